# Config validation and the few helpers that turn the config into paths and job lists.
import glob
import hashlib
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import yaml
from snakemake.utils import validate
from splade_core.data import download as downloads
from splade_core.errors import SpladeError
from splade_core.mine.config import MineConfig, default_teacher
from splade_core.registry import BUNDLED_MODEL, STUDY_PRUNING_METHODS, local_path
from splade_core.formats import detect_format
from splade_core.sparse.prune import agnostic_problem
from splade_core.sparse.vectors import weight_dtype
from splade_core.train.config import TrainConfig

SCHEMA = workflow.source_path("../schemas/config.schema.yaml")


def check_config(config):
    """Stop with one line naming the first invalid key; then fill in the defaults."""
    with open(SCHEMA) as handle:
        schema = yaml.safe_load(handle)
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(config)
    )
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        sys.exit(f"invalid config: {where}: {error.message}")
    validate(config, SCHEMA, set_default=True)


check_config(config)


def training_config(config):
    """The study's training and mining settings as `splade train` and `splade mine` will read
    them, validated by their own TrainConfig (one per λ) and MineConfig, so a setting that would
    fail hours later stops the plan now. Returns the teacher that mining uses."""
    bases = [spec["path"] for spec in config["models"].values() if spec["train"]]
    model = bases[0] if bases else BUNDLED_MODEL
    values = {**config["training"], "output": config["results"], "model": model}
    values["train_examples"] = (
        values["train_examples"] or "mined by the mine_negatives rule"
    )
    for entry in config["lambdas"] or [{"lq": 0.0, "ld": 0.0}]:
        try:
            TrainConfig.from_dict(
                {**values, "lambda_q": entry["lq"], "lambda_d": entry["ld"]}, "training"
            )
        except SpladeError as exc:
            problem = str(exc).removeprefix("invalid training config: ")
            sys.exit(f"invalid config: training: {problem}")
    mining = config["mining"]
    teacher = default_teacher(mining["teacher"], config["training"]["loss"])
    try:
        MineConfig(
            **{
                **mining,
                "train_data": values["train_data"],
                "model": model,
                "teacher": teacher,
            }
        )
    except SpladeError as exc:
        sys.exit(
            f"invalid config: mining: {str(exc).removeprefix('invalid mining settings: ')}"
        )
    return teacher


def check_ranges(config):
    """What the schema cannot say: pruning thresholds within the impact type's range; TF32 only
    for float32 on CUDA."""
    encoding = config["encoding"]
    if encoding["tf32"] and not (
        encoding["device"].startswith("cuda") and encoding["precision"] == "fp32"
    ):
        sys.exit(
            "invalid config: encoding.tf32: applies to precision fp32 on a cuda device"
        )
    dtype = config["quantization"]["dtype"]
    for threshold in config["pruning"]["agnostic"]:
        if (problem := agnostic_problem(threshold, dtype)) is not None:
            sys.exit(f"invalid config: pruning.agnostic: {problem}")


def _matching(where, patterns):
    """The files a config entry names: each pattern's matches (sorted), or exit naming it."""
    files = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            sys.exit(f"invalid config: {where}: no file matches {pattern!r}")
        files += matches
    return files


def check_imports(config):
    """Pre-encoded models: evaluated as they are, with vectors for every corpus and dataset."""
    imports = {}
    for name, spec in config["models"].items():
        vectors = spec.get("vectors")
        if vectors is None:
            continue
        where = f"models.{name}.vectors"
        if spec["train"] or not spec["pretrained"]:
            sys.exit(
                f"invalid config: models.{name}: pre-encoded vectors are evaluated as they are "
                "(pretrained: true, train: false)"
            )
        files = {"docs": {}, "queries": {}}
        for dataset, entry in config["datasets"].items():
            corpus = entry.get("corpus", dataset)
            for side, key in (("docs", corpus), ("queries", dataset)):
                if key not in vectors[side]:
                    sys.exit(f"invalid config: {where}.{side}: no files for {key!r}")
                files[side][key] = _matching(
                    f"{where}.{side}.{key}", vectors[side][key]
                )
                if len({detect_format(path) for path in files[side][key]}) > 1:
                    sys.exit(
                        f"invalid config: {where}.{side}.{key}: files of more than one format"
                    )
        imports[name] = files
    return imports


MINING_TEACHER = training_config(config)
# Whether mining runs a model (the SPLADE model for the "splade" methods, or a teacher): only
# then does its job ask for mining.device's GPU.
MINING_RUNS_MODEL = "splade" in config["mining"]["method"] or MINING_TEACHER is not None
check_ranges(config)
IMPORTS = check_imports(config)

R = config["results"]
RES = config["resources"]
ENCODE = config["encoding"]
QUANT = config["quantization"]
RETRIEVAL = config["retrieval"]
TRAIN = config["training"]
MINING = config["mining"]
# Settings passed to `splade train` as flags; a changed value reruns training (params trigger).
TRAIN_FLAGS = {
    key: value
    for key, value in TRAIN.items()
    if key not in ("train_data", "train_examples")
}


envvars:
    "PATH",


# Shell commands call the `splade` entry point of the Python running Snakemake (its venv).
os.environ["PATH"] = (
    f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)
PRETRAINED = "pretrained"


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9._-]*",
    corpus="[A-Za-z0-9][A-Za-z0-9._-]*",
    model="[A-Za-z0-9][A-Za-z0-9._-]*",
    setting="pretrained|lq=[^_/]+_ld=[^_/]+",
    prune=f"none|({'|'.join(STUDY_PRUNING_METHODS)})-[0-9]+",
    shard="[0-9]+",


# --- the download stage: every external input, by where it goes under resources/ ----------------


def _resource(where, function, *args):
    """function(RES, *args), or stop with one line naming the config key."""
    try:
        return str(function(RES, *args))
    except SpladeError as exc:
        sys.exit(f"invalid config: {where}: {exc}")


def _resources_of(config):
    """Folders of the download stage -> what fills them, for every input the config names."""
    corpora, collections, models, files = {}, {}, {}, {}
    specs = [
        (f"datasets.{name}.collection", d["collection"])
        for name, d in config["datasets"].items()
    ]
    if any(spec["train"] for spec in config["models"].values()):
        specs.append(("training.train_data", config["training"]["train_data"]))
    for where, spec in specs:
        folder = _resource(where, downloads.collection_dir, spec)
        collections[folder] = spec
        corpora[_resource(where, downloads.corpus_dir, spec)] = spec
    for name, spec in config["models"].items():
        path = spec["path"]
        if (folder := local_path(path)) is not None and not folder.is_dir():
            sys.exit(f"invalid config: models.{name}.path: {path!r} is no directory")
        if needs_model(name):
            models[
                _resource(f"models.{name}.path", downloads.model_dir, spec["path"])
            ] = (spec["path"], "splade")
    mines = (
        any(spec["train"] for spec in config["models"].values())
        and not config["training"]["train_examples"]
    )
    if mines and MINING_TEACHER not in (None, "self"):
        models[_resource("mining.teacher", downloads.model_dir, MINING_TEACHER)] = (
            MINING_TEACHER,
            "cross-encoder",
        )
    examples = config["training"]["train_examples"]
    if examples and downloads.is_url(examples):
        path = _resource("training.train_examples", downloads.file_path, examples)
        files[str(Path(path).parent)] = examples
    return corpora, collections, models, files


def needs_model(name):
    """Whether a model is downloaded: to encode, train, or name the tokens of its vectors."""
    spec = config["models"][name]
    if name not in IMPORTS:
        return spec["pretrained"] or spec["train"]
    files = [
        path
        for side in IMPORTS[name].values()
        for paths in side.values()
        for path in paths
    ]
    return any(detect_format(path) != "npz" for path in files)


CORPORA, COLLECTIONS, MODELS, FILES = _resources_of(config)


def collection_folder(spec):
    """The downloaded collection (queries, qrels, and its corpus) that jobs read for `spec`."""
    return str(downloads.collection_dir(RES, spec))


def corpus_folder(spec):
    return str(downloads.corpus_dir(RES, spec))


def model_folder(spec):
    return str(downloads.model_dir(RES, spec))


def manifest(folder):
    return f"{folder}/manifest.json"


def all_downloads():
    return [manifest(folder) for folder in (*CORPORA, *COLLECTIONS, *MODELS, *FILES)]


def teacher_folder():
    """The teacher as `splade mine` takes it: none, self, or the downloaded cross-encoder
    (`mine.default_teacher`: self when the training loss distils and none is set)."""
    if MINING_TEACHER in (None, "self"):
        return MINING_TEACHER or "none"
    return model_folder(MINING_TEACHER)


def teacher_input(wildcards):
    if MINING_TEACHER in (None, "self"):
        return []
    return [manifest(model_folder(MINING_TEACHER))]


def lambda_setting(entry):
    return f"lq={entry['lq']:g}_ld={entry['ld']:g}"


def lambdas_of(setting):
    """(lq, ld) of a fine-tuned setting, from the config entry that names it; None if pretrained."""
    if setting == PRETRAINED:
        return None
    entry = next(e for e in config["lambdas"] if lambda_setting(e) == setting)
    return entry["lq"], entry["ld"]


def setting_labels(wildcards):
    """--label flags that give `splade evaluate` a row's λs as values (nothing parses paths)."""
    lambdas = lambdas_of(wildcards.setting)
    return (
        ""
        if lambdas is None
        else f"--label lq={lambdas[0]:g} --label ld={lambdas[1]:g}"
    )


def settings_of(model):
    """Settings evaluated for a base model: 'pretrained' and one per λ pair."""
    spec = config["models"][model]
    settings = [PRETRAINED] if spec["pretrained"] else []
    if spec["train"]:
        settings += [lambda_setting(entry) for entry in config["lambdas"]]
    return settings


def prunings_of(setting):
    pruning = config["pruning"]
    if pruning["settings"] == "pretrained" and setting != PRETRAINED:
        return ["none"]
    return [
        "none",
        *(
            f"{method}-{value}"
            for method in STUDY_PRUNING_METHODS
            for value in pruning[method]
        ),
    ]


def corpus_of(dataset):
    return config["datasets"][dataset].get("corpus", dataset)


def collection_of(dataset):
    return config["datasets"][dataset]["collection"]


def first_dataset(corpus):
    """The first dataset naming `corpus`: its collection supplies the documents."""
    return next(name for name in config["datasets"] if corpus_of(name) == corpus)


def corpus_collection(corpus):
    return collection_of(first_dataset(corpus))


def dataset_folder(wildcards):
    """The downloaded collection of a dataset: its queries, qrels and corpus."""
    return collection_folder(collection_of(wildcards.dataset))


def training_folder():
    return collection_folder(TRAIN["train_data"])


def base_model(wildcards):
    """The downloaded base model of `model`."""
    return model_folder(config["models"][wildcards.model]["path"])


def model_dir(wildcards):
    """The model a setting encodes with: the (downloaded) base model, or the fine-tuned one."""
    if wildcards.setting == PRETRAINED:
        return base_model(wildcards)
    return f"{R}/models/{wildcards.model}/{wildcards.setting}/model"


def model_input(wildcards):
    """Input files for model_dir: the base model's manifest, or the fine-tuned folder."""
    if wildcards.setting == PRETRAINED:
        return [manifest(base_model(wildcards))]
    return [model_dir(wildcards)]


def vocabulary_input(wildcards):
    """The downloaded model whose tokenizer numbers an imported model's tokens, if needed."""
    return [manifest(base_model(wildcards))] if needs_model(wildcards.model) else []


def vocabulary_flag(wildcards):
    return (
        f"--vocabulary {base_model(wildcards)}" if needs_model(wildcards.model) else ""
    )


def _float_file(files):
    """The one float .npz a side is given as, which quantization reads directly; else None."""
    if len(files) == 1 and detect_format(files[0]) == "npz":
        if weight_dtype(files[0]) == np.float32:
            return files[0]
    return None


def float_docs(wildcards):
    """Float document vectors of a corpus: encoded and merged here, imported, or given."""
    if wildcards.model in IMPORTS:
        files = IMPORTS[wildcards.model]["docs"][wildcards.corpus]
        return (
            _float_file(files)
            or f"{R}/imported/{wildcards.corpus}/{wildcards.model}/docs.npz"
        )
    return (
        f"{R}/encoded/{wildcards.corpus}/{wildcards.model}/{wildcards.setting}/docs.npz"
    )


def float_queries(wildcards):
    if wildcards.model in IMPORTS:
        files = IMPORTS[wildcards.model]["queries"][wildcards.dataset]
        return (
            _float_file(files)
            or f"{R}/imported/{wildcards.dataset}/{wildcards.model}/queries.npz"
        )
    return f"{R}/{wildcards.dataset}/{wildcards.model}/{wildcards.setting}/queries.npz"


# --- resources from the data: mem_mb and runtime grow with the size of a job's inputs ------------
# Calibrated by benchmarks/scale.py at MS MARCO size (8.8 M passages); docs/scale.md has the model.
# Streaming stages hold a row chunk plus ~70 bytes per row (ids, row lengths, id hashes); the
# index build holds its input, the index (~0.45x a quantized input) and one 512 MB pass; BM25
# holds ~26 bytes per distinct document-term pair while it indexes, ~3 MB per MB of corpus text.
# A job Snakemake retries (--retries) asks for attempt times as much.


def input_data_mb(input, of=None):
    """MB of a job's input data, or of its inputs named in `of`: a download's manifest counts
    as the files it lists (a collection's manifest: its queries and qrels; a corpus's: its
    documents), any other file as its size."""
    paths = (
        input
        if of is None
        else [path for name in of for path in _paths(getattr(input, name))]
    )
    return sum(downloads.data_bytes(path) for path in paths) / 2**20


def _paths(value):
    return [value] if isinstance(value, str) else list(value)


def memory(base_mb, per_input_mb=0.0, of=None):
    """mem_mb = base_mb + per_input_mb x the job's input data (MB; see input_data_mb), x the attempt."""
    return lambda wildcards, input, attempt: math.ceil(
        (base_mb + per_input_mb * input_data_mb(input, of)) * attempt
    )


def minutes(base, per_input_gb=0.0, of=None):
    """runtime (minutes) = base + per_input_gb x the job's input data (GB), x the attempt."""
    return lambda wildcards, input, attempt: math.ceil(
        (base + per_input_gb * input_data_mb(input, of) / 1024) * attempt
    )


def encode_threads():
    return config["threads"]["encode"]


# Encoding is sized by the model's weights, the batch and the text (benchmarks/encode_resources.py,
# results/encode-resources.json: `splade encode` on CPU, 2 threads, SciFact documents filling
# 256 tokens). splade-tiny (17 MB of weights) peaked at 561 / 769 MB with batches of 32 / 128
# texts and a BERT-base-sized model (418 MB) at 1,332 / 1,943 MB: about 2x the weights plus
# 25 KB per token of a batch. They took 425 and 4,037 minutes per GB of text, about
# 9 x (weights MB + 30). The rules ask for more: 0.03 MB a token, 15 x (weights + 30) minutes a
# GB, no speed-up credited beyond 2 threads. On a GPU (not measured: no GPU was lent) the host
# also maps the CUDA libraries (an allowance of ENCODE_CUDA_HOST_MB) and the time is assumed to
# be at most the CPU's / ENCODE_GPU_SPEEDUP; a shard killed at its limit resumes from its last
# block when retried, with attempt x the time.
ENCODE_CUDA_HOST_MB = 2000
ENCODE_GPU_SPEEDUP = 20


def on_cuda(device):
    """Whether a torch device setting (encoding.device, training.device) is a GPU."""
    return device.startswith("cuda")


def precision_flags():
    """`splade encode --precision` (and --tf32) of the study's encoding settings."""
    return f"--precision {ENCODE['precision']}" + (" --tf32" if ENCODE["tf32"] else "")


def encode_memory(max_length):
    """mem_mb of an encoding job: the model (2x its weights), a batch of max_length tokens, CUDA."""
    fixed_mb = (
        500
        + 0.03 * ENCODE["batch_size"] * max_length
        + ENCODE_CUDA_HOST_MB * on_cuda(ENCODE["device"])
    )
    return lambda wildcards, input, attempt: math.ceil(
        (fixed_mb + 2 * input_data_mb(input, ["model"])) * attempt
    )


def encode_minutes(text, shards=1):
    """runtime of an encoding job: 1/shards of its `text` input's data, at the model's rate."""

    def runtime(wildcards, input, attempt):
        per_gb = 15 * (input_data_mb(input, ["model"]) + 30)
        per_gb = (
            per_gb / ENCODE_GPU_SPEEDUP
            if on_cuda(ENCODE["device"])
            else per_gb * max(1.0, 2 / encode_threads())
        )
        return math.ceil(
            (10 + per_gb * input_data_mb(input, [text]) / 1024 / shards) * attempt
        )

    return runtime


# Mining holds the corpus's ids (a few bytes a passage), its BM25 index (about 3.5 MB a corpus MB,
# as retrieve_bm25 measured at 8.8 M passages), for the "splade" methods the corpus's float32
# vectors (about 8 MB a corpus MB: ~300 terms x 8 bytes for a ~300-byte passage), the rankings
# and the models (2x their weights, as encoding). The texts of one block of queries' documents
# are read by seeking; none is held per passage. benchmarks/mining_scale.py: 8.8 M passages
# (2.3 GB), 6,980 judged queries, in 603 s at 4,829 MB (9,704 declared). BM25 ranks a query in
# ~0.012 s a corpus GB on one thread (MINE_QUERY_MINUTES: twice that); a teacher's scoring is
# not counted (not measured on a GPU: set the rule's runtime in profiles/slurm for one).
MINE_INDEX_MB = {"bm25": 3.5, "splade": 8.0}
MINE_QUERY_MINUTES = 0.0004  # per judged query and corpus GB


def judged_queries(manifest_path):
    """Judged queries of a downloaded collection, from its manifest (0 before the download)."""
    path = Path(manifest_path)
    return (
        json.loads(path.read_text()).get("judged_queries", 0) if path.is_file() else 0
    )


def mine_minutes(wildcards, input, attempt):
    corpus_gb = input_data_mb(input, ["corpus"]) / 1024
    queries = min(
        judged_queries(input.collection), MINING["max_queries"] or float("inf")
    )
    return math.ceil(
        (120 + 30 * corpus_gb + MINE_QUERY_MINUTES * queries * corpus_gb) * attempt
    )


def mine_memory(wildcards, input, attempt):
    per_corpus_mb = sum(
        rate for name, rate in MINE_INDEX_MB.items() if name in MINING["method"]
    )
    models_mb = 2 * input_data_mb(input, ["base", "teacher"])
    cuda_mb = ENCODE_CUDA_HOST_MB * (on_cuda(MINING["device"]) and MINING_RUNS_MODEL)
    return math.ceil(
        (1500 + per_corpus_mb * input_data_mb(input, ["corpus"]) + models_mb + cuda_mb)
        * attempt
    )


def rows(dataset, file="metrics.json"):
    """`file` (metrics.json, perquery.tsv) of every row of a dataset's summary, in one order."""
    out = []
    for model in config["models"]:
        for setting in settings_of(model):
            for prune in prunings_of(setting):
                out.append(f"{R}/{dataset}/{model}/{setting}/prune={prune}/{file}")
    if config["datasets"][dataset]["bm25"]:
        out.append(f"{R}/{dataset}/bm25/{file}")
    return out


def study_baseline(config):
    """Labels of the row every other row of a summary is tested against: `report.baseline`, or
    the first model evaluated as it is (else the first model's first setting; else BM25),
    unpruned; or stop with one line if some dataset has no such row."""
    chosen = config["report"]["baseline"]
    if chosen is None:
        models = [name for name in config["models"] if settings_of(name)]
        pretrained = [name for name in models if PRETRAINED in settings_of(name)]
        if not models:
            return {"model": "bm25"}
        model = (pretrained or models)[0]
        return {"model": model, "setting": settings_of(model)[0], "prune": "none"}
    where = "invalid config: report.baseline"
    if chosen["model"] == "bm25":
        missing = [name for name, d in config["datasets"].items() if not d["bm25"]]
        if missing:
            sys.exit(f"{where}: dataset {missing[0]!r} has no BM25 row (bm25: false)")
        return {"model": "bm25"}
    if chosen["model"] not in config["models"]:
        sys.exit(
            f"{where}.model: {chosen['model']!r} is neither a model of the study nor bm25"
        )
    labels = {
        "model": chosen["model"],
        "setting": PRETRAINED,
        "prune": "none",
        **chosen,
    }
    for key, allowed in (
        ("setting", settings_of(labels["model"])),
        ("prune", prunings_of(labels["setting"])),
    ):
        if labels[key] not in allowed:
            sys.exit(f"{where}.{key}: {labels[key]!r} is not one of {allowed}")
    return labels


BASELINE = study_baseline(config)


def baseline_flags():
    """`splade aggregate --baseline` flags: the labels of the baseline row."""
    return " ".join(f"--baseline {key}={value}" for key, value in BASELINE.items())


def all_summaries():
    return [f"{R}/{dataset}/summary.md" for dataset in config["datasets"]]


STARTED = time.time()


def print_new_summaries(summaries):
    """At the end of a run, show the summaries it (re)wrote and where the plots are."""
    for summary in map(Path, summaries):
        if summary.is_file() and summary.stat().st_mtime >= STARTED:
            print(summary.read_text())
            print(f"summary: {summary} (and .csv); plots: {summary.parent / 'plots'}")


def train_flags(settings):
    flags = []
    for key, value in sorted(settings.items()):
        name = key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        else:
            flags.append(f"--{name} {'none' if value is None else value}")
    return " ".join(flags)


def run_digest(model):
    """Short hash of what defines a training run: its checkpoints go to their own folder."""
    key = f"{config['models'][model]['path']}|{TRAIN}"
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def training_examples(wildcards):
    """The examples a model trains on: the config's file (downloaded if a URL), or mined ones."""
    examples = TRAIN["train_examples"]
    if not examples:
        return f"{R}/models/{wildcards.model}/examples.jsonl"
    return (
        str(downloads.file_path(RES, examples))
        if downloads.is_url(examples)
        else examples
    )


def training_examples_input(wildcards):
    """The file Snakemake tracks for training_examples: a download's manifest for a URL."""
    examples = TRAIN["train_examples"]
    if examples and downloads.is_url(examples):
        return manifest(Path(downloads.file_path(RES, examples)).parent)
    return training_examples(wildcards)


def corpus_vectors(wildcards, corpus=None):
    """Quantized document vectors of a corpus, pruned or not."""
    base = f"{R}/encoded/{corpus or wildcards.corpus}/{wildcards.model}/{wildcards.setting}"
    return (
        f"{base}/docs.q.npz"
        if wildcards.prune == "none"
        else f"{base}/prune={wildcards.prune}/docs.q.npz"
    )


def encoding_timings(wildcards):
    """Benchmark files of the jobs that encoded this row's corpus and queries (none if imported)."""
    if wildcards.model in IMPORTS:
        return []
    corpus = corpus_of(wildcards.dataset)
    row = f"{wildcards.model}/{wildcards.setting}"
    shards = [
        f"{R}/benchmarks/encode_corpus/{corpus}/{row}/shard{shard}.tsv"
        for shard in range(ENCODE["shards"])
    ]
    return [*shards, f"{R}/benchmarks/encode_queries/{wildcards.dataset}/{row}.tsv"]


def training_timing(wildcards):
    if wildcards.setting == PRETRAINED:
        return []
    return [f"{R}/benchmarks/train_model/{wildcards.model}/{wildcards.setting}.tsv"]


BENCHMARK_SECONDS = shlex.join(
    [sys.executable, f"{workflow.basedir}/scripts/benchmark_seconds.py"]
)


def timing_flags(named_files):
    """`splade evaluate --timing NAME=SECONDS` flags, the seconds of each name's benchmark files
    summed when the job runs (scripts/benchmark_seconds.py); names without files are left out.
    """
    return " ".join(
        f'--timing {name}="$({BENCHMARK_SECONDS} {shlex.join(files)})"'
        for name, files in named_files.items()
        if files
    )


# --- exports for other engines (rules/export.smk) --------------------------------------------


EXPORT_FILES = {
    "anserini": "jsonl",
    "ciff": "ciff",
}  # format folder -> its documents' file


def export_format(wildcards):
    """`splade export --format` of a document export: its folder, which the file name matches
    (anserini/docs.jsonl[.gz], ciff/docs.ciff[.gz])."""
    if wildcards.ext.removesuffix(".gz") != EXPORT_FILES[wildcards.format]:
        raise ValueError(
            f"{wildcards.format}/docs.{wildcards.ext}: the {wildcards.format} export is"
            f" docs.{EXPORT_FILES[wildcards.format]} (or .gz)"
        )
    return wildcards.format


def export_model(wildcards):
    """The model whose tokenizer names the vectors' terms: the one that encoded them, or the
    downloaded `path` of pre-encoded vectors."""
    if wildcards.model not in IMPORTS:
        return model_dir(wildcards)
    if not needs_model(wildcards.model):
        raise ValueError(
            f"models.{wildcards.model}: its vectors are .npz files, so no tokenizer is downloaded"
            " to name their terms: export them with `splade export --model` by hand"
        )
    return base_model(wildcards)


def export_model_input(wildcards):
    return (
        vocabulary_input(wildcards)
        if wildcards.model in IMPORTS
        else model_input(wildcards)
    )


def all_exports():
    """Every model setting's unpruned vectors, for Anserini and as CIFF (a corpus shared by
    datasets once); models whose tokenizer is not downloaded (.npz imports) are left out.
    """
    out = []
    for dataset in config["datasets"]:
        for model in config["models"]:
            if not needs_model(model):
                continue
            for setting in settings_of(model):
                docs = f"{R}/export/{corpus_of(dataset)}/{model}/{setting}/prune=none"
                out += [f"{docs}/anserini/docs.jsonl", f"{docs}/ciff/docs.ciff"]
                out.append(
                    f"{R}/export/{dataset}/{model}/{setting}/anserini/queries.tsv"
                )
    return list(dict.fromkeys(out))
