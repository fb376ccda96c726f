# The training stage: hard negatives (and teacher scores) mined once per base model, then one
# fine-tuned model per λ setting.
import hashlib

from splade_core.data import download as downloads
from splade_core.study.plan import STUDY_TRAINING_KEYS

# Settings passed to `splade train` as flags; a changed value reruns training (params trigger).
TRAIN_FLAGS = {
    key: value
    for key, value in TRAIN.items()
    if key not in ("train_data", "train_examples", *STUDY_TRAINING_KEYS)
}


def train_flags(settings):
    flags = []
    for key, value in sorted(settings.items()):
        name = key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        else:
            flags.append(f"--{name} {'none' if value is None else value}")
    return " ".join(flags)


def run_dir(wildcards):
    """Checkpoints of a run, beside its model folder, named by a hash of what defines the run: a
    killed job resumes where it stopped, and changed settings start a fresh run."""
    key = f"{config['models'][wildcards.model]['path']}|{TRAIN}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return path(
        "run_dir", model=wildcards.model, setting=wildcards.setting, digest=digest
    )


def training_examples(wildcards):
    """The examples a model trains on: the config's file (downloaded if a URL), or mined ones."""
    examples = TRAIN["train_examples"]
    if not examples:
        return path("examples", model=wildcards.model)
    if downloads.is_url(examples):
        return str(downloads.file_path(RES, examples))
    return examples


def training_examples_input(wildcards):
    """The file Snakemake tracks for training_examples: a download's manifest for a URL."""
    examples = TRAIN["train_examples"]
    if examples and downloads.is_url(examples):
        return manifest(Path(training_examples(wildcards)).parent)
    return training_examples(wildcards)


def teacher_folder():
    """The teacher as `splade mine` takes it: none, self, or the downloaded cross-encoder
    (`mine.default_teacher`: self when the training loss distils and none is set)."""
    if STUDY.teacher in (None, "self"):
        return STUDY.teacher or "none"
    return STUDY.model_folder(STUDY.teacher)


def training_collection(wildcards):
    return STUDY.collection_folder(TRAIN["train_data"])


rule mine_negatives:
    input:
        collection=lambda wildcards: manifest(training_collection(wildcards)),
        corpus=lambda wildcards: manifest(STUDY.corpus_folder(TRAIN["train_data"])),
        base=lambda wildcards: manifest(base_model(wildcards)),
        teacher=[] if STUDY.teacher in (None, "self") else manifest(teacher_folder()),
    output:
        path("examples"),
    log:
        STUDY.log("mine_negatives", "{model}"),
    benchmark:
        STUDY.benchmark("mine_negatives", "{model}")
    threads: config["threads"]["mine"]
    resources:
        mem_mb=mine_memory(MINING, STUDY.mining_runs_model),
        runtime=mine_minutes(MINING),
        gpu=int(on_cuda(MINING["device"]) and STUDY.mining_runs_model),
    params:
        base=base_model,
        collection=training_collection,
        method=MINING["method"],
        depth=MINING["depth"],
        teacher=teacher_folder(),
        subset=(
            f"--max-queries {MINING['max_queries']}" if MINING["max_queries"] else ""
        ),
        seed=TRAIN["seed"],
        doc_max_length=ENCODE["doc_max_length"],
        batch_size=MINING["batch_size"],
        teacher_max_length=MINING["teacher_max_length"],
        device=MINING["device"],
        precision=MINING["precision"],
    shell:
        "splade mine --train-data {params.collection:q} --model {params.base:q} --method {params.method}"
        " --depth {params.depth} --teacher {params.teacher:q} --seed {params.seed} {params.subset}"
        " --doc-max-length {params.doc_max_length} --batch-size {params.batch_size}"
        " --teacher-max-length {params.teacher_max_length} --device {params.device} --precision {params.precision}"
        " --threads {threads} --no-progress --output {output} > {log} 2>&1"


rule train_model:
    input:
        collection=lambda wildcards: manifest(training_collection(wildcards)),
        base=lambda wildcards: manifest(base_model(wildcards)),
        examples=training_examples_input,
    output:
        directory(path("model")),
    log:
        STUDY.log("train_model", "{model}/{setting}"),
    benchmark:
        STUDY.benchmark("train_model", "{model}/{setting}")
    threads: config["threads"]["train"]
    resources:
        # per process: the model and its optimizer, and the examples as arrays (a 40 M-line
        # teacher file, 1.4 GB, peaks at 3.5-4.0 GB while it is read: benchmarks/training_data.py)
        mem_mb=memory(
            8000 * TRAIN["processes"], 2.5 * TRAIN["processes"], of=["examples"]
        ),
        runtime=720,
        # one GPU per process, all on one node: `splade train` starts the processes itself
        gpu=TRAIN["processes"] if on_cuda(TRAIN["device"]) else 0,
        nodes=1,
    params:
        base=base_model,
        collection=training_collection,
        examples=training_examples,
        lq=lambda wildcards: STUDY.setting(wildcards.setting).lq,
        ld=lambda wildcards: STUDY.setting(wildcards.setting).ld,
        flags=train_flags(TRAIN_FLAGS),
        run_dir=run_dir,
    shell:
        "splade train --model {params.base:q} --train-data {params.collection:q}"
        " --train-examples {params.examples:q} --lambda-q {params.lq} --lambda-d {params.ld}"
        " {params.flags} --threads {threads} --no-progress --output {params.run_dir} > {log} 2>&1"
        " && mv {params.run_dir}/model {output}"
