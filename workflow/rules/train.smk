rule mine_negatives:
    input:
        collection=manifest(training_folder()),
        corpus=manifest(corpus_folder(TRAIN["train_data"])),
        base=lambda wildcards: manifest(base_model(wildcards)),
        teacher=teacher_input,
    output:
        f"{R}/models/{{model}}/examples.jsonl",
    log:
        f"{R}/logs/mine_negatives/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/mine_negatives/{{model}}.tsv"
    threads: config["threads"]["mine"]
    resources:
        # the corpus's ids (a few bytes a passage), its BM25 index (~3.5 MB a corpus MB, as
        # retrieve_bm25), the rankings (4 bytes a retrieved row), the model and the teacher
        mem_mb=mine_memory,
        runtime=mine_minutes,
        gpu=int(on_cuda(MINING["device"]) and MINING_RUNS_MODEL),
    params:
        base=base_model,
        collection=training_folder(),
        method=MINING["method"],
        depth=MINING["depth"],
        teacher=teacher_folder(),
        subset=(
            f"--max-queries {MINING['max_queries']}" if MINING["max_queries"] else ""
        ),
        seed=TRAIN["seed"],
        doc_max_length=config["encoding"]["doc_max_length"],
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
        collection=manifest(training_folder()),
        base=lambda wildcards: manifest(base_model(wildcards)),
        examples=training_examples_input,
    output:
        directory(f"{R}/models/{{model}}/{{setting}}/model"),
    log:
        f"{R}/logs/train_model/{{model}}/{{setting}}.log",
    benchmark:
        f"{R}/benchmarks/train_model/{{model}}/{{setting}}.tsv"
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
        collection=training_folder(),
        examples=training_examples,
        lambdas=lambda wildcards: lambdas_of(wildcards.setting),
        flags=train_flags(TRAIN_FLAGS),
        run_dir=lambda wildcards: f"{R}/models/{wildcards.model}/{wildcards.setting}/run-{run_digest(wildcards.model)}",
    shell:
        # Checkpoints live in run-<digest of the settings>/ beside the model folder: a killed job
        # resumes where it stopped, and changed settings start a fresh run.
        "splade train --model {params.base:q} --train-data {params.collection:q}"
        " --train-examples {params.examples:q} --lambda-q {params.lambdas[0]} --lambda-d {params.lambdas[1]}"
        " {params.flags} --threads {threads} --no-progress --output {params.run_dir} > {log} 2>&1"
        " && mv {params.run_dir}/model {output}"
