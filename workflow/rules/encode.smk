# The encoding stage: documents in shards merged after, queries in one job; pre-encoded models'
# vectors are imported instead.
ENCODE_THREADS = config["threads"]["encode"]
# `splade encode --precision` (and --tf32) of the study's encoding settings
PRECISION = f"--precision {ENCODE['precision']}" + (" --tf32" if ENCODE["tf32"] else "")


def corpus_folder(wildcards):
    return STUDY.corpus_folder(STUDY.corpus_collection(wildcards.corpus))


rule encode_corpus:
    input:
        corpus=lambda wildcards: manifest(corpus_folder(wildcards)),
        model=model_input,
    output:
        temp(path("docs_shard")),
    log:
        STUDY.log("encode_corpus", "{corpus}/{model}/{setting}/shard{shard}"),
    benchmark:
        STUDY.benchmark("encode_corpus", "{corpus}/{model}/{setting}/shard{shard}")
    threads: ENCODE_THREADS
    resources:
        mem_mb=encode_memory(ENCODE, ENCODE["doc_max_length"]),
        runtime=encode_minutes(ENCODE, ENCODE_THREADS, "corpus", ENCODE["shards"]),
        gpu=int(on_cuda(ENCODE["device"])),
    params:
        model=model_dir,
        collection=corpus_folder,
        shards=ENCODE["shards"],
        batch_size=ENCODE["batch_size"],
        max_length=ENCODE["doc_max_length"],
        device=ENCODE["device"],
        precision=PRECISION,
    shell:
        "splade encode --model {params.model:q} --collection {params.collection:q} --side doc"
        " --shard {wildcards.shard}/{params.shards} --max-length {params.max_length} --batch-size {params.batch_size}"
        " --threads {threads} --device {params.device} {params.precision} --no-progress --output {output} > {log} 2>&1"


rule merge_corpus:
    input:
        lambda wildcards: [
            path(
                "docs_shard",
                corpus=wildcards.corpus,
                model=wildcards.model,
                setting=wildcards.setting,
                shard=shard,
            )
            for shard in range(ENCODE["shards"])
        ],
    output:
        path("docs"),
    log:
        STUDY.log("merge_corpus", "{corpus}/{model}/{setting}"),
    benchmark:
        STUDY.benchmark("merge_corpus", "{corpus}/{model}/{setting}")
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 1),
    shell:
        "splade merge {input} --output {output} > {log} 2>&1"


rule encode_queries:
    input:
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        model=model_input,
    output:
        path("queries"),
    log:
        STUDY.log("encode_queries", "{dataset}/{model}/{setting}"),
    benchmark:
        STUDY.benchmark("encode_queries", "{dataset}/{model}/{setting}")
    threads: ENCODE_THREADS
    resources:
        mem_mb=encode_memory(ENCODE, ENCODE["query_max_length"]),
        runtime=encode_minutes(ENCODE, ENCODE_THREADS, "collection"),
        gpu=int(on_cuda(ENCODE["device"])),
    params:
        model=model_dir,
        collection=dataset_folder,
        batch_size=ENCODE["batch_size"],
        max_length=ENCODE["query_max_length"],
        device=ENCODE["device"],
        precision=PRECISION,
    shell:
        "splade encode --model {params.model:q} --collection {params.collection:q} --side query"
        " --max-length {params.max_length} --batch-size {params.batch_size} --threads {threads}"
        " --device {params.device} {params.precision} --no-progress --output {output} > {log} 2>&1"


def vocabulary_flag(wildcards):
    if not STUDY.needs_model(wildcards.model):
        return ""
    return f"--vocabulary {base_model(wildcards)}"


def vectors_of(model):
    return config["models"][model]["vectors"]


IMPORT = (
    "splade import {input.files:q} {params.vocabulary} --scale {params.scale} --unknown {params.unknown}"
    " --output {output} > {log} 2>&1"
)


rule import_corpus:
    input:
        files=lambda wildcards: STUDY.imports[wildcards.model]["docs"][wildcards.corpus],
        vocabulary=vocabulary_input,
    output:
        path("imported_docs"),
    log:
        STUDY.log("import_corpus", "{corpus}/{model}"),
    benchmark:
        STUDY.benchmark("import_corpus", "{corpus}/{model}")
    resources:
        mem_mb=memory(1000, 0.1),
        runtime=minutes(10, 5),
    params:
        vocabulary=vocabulary_flag,
        scale=lambda wildcards: vectors_of(wildcards.model)["scale"],
        unknown=lambda wildcards: vectors_of(wildcards.model)["unknown"],
    shell:
        IMPORT


rule import_queries:
    input:
        files=lambda wildcards: STUDY.imports[wildcards.model]["queries"][
            wildcards.dataset
        ],
        vocabulary=vocabulary_input,
    output:
        path("imported_queries"),
    log:
        STUDY.log("import_queries", "{dataset}/{model}"),
    benchmark:
        STUDY.benchmark("import_queries", "{dataset}/{model}")
    resources:
        mem_mb=memory(1000, 2),
        runtime=minutes(5, 5),
    params:
        vocabulary=vocabulary_flag,
        scale=lambda wildcards: vectors_of(wildcards.model)["scale"],
        unknown=lambda wildcards: vectors_of(wildcards.model)["unknown"],
    shell:
        IMPORT
