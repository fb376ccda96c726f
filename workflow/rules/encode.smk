rule encode_corpus:
    input:
        corpus=lambda wildcards: manifest(
            corpus_folder(corpus_collection(wildcards.corpus))
        ),
        model=model_input,
    output:
        temp(f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.shard{{shard}}.npz"),
    log:
        f"{R}/logs/encode_corpus/{{corpus}}/{{model}}/{{setting}}/shard{{shard}}.log",
    benchmark:
        f"{R}/benchmarks/encode_corpus/{{corpus}}/{{model}}/{{setting}}/shard{{shard}}.tsv"
    threads: encode_threads()
    resources:
        mem_mb=encode_memory(ENCODE["doc_max_length"]),
        runtime=encode_minutes("corpus", ENCODE["shards"]),
        gpu=int(on_cuda(ENCODE["device"])),
    params:
        model=model_dir,
        collection=lambda wildcards: corpus_folder(corpus_collection(wildcards.corpus)),
        shards=ENCODE["shards"],
        batch_size=ENCODE["batch_size"],
        max_length=ENCODE["doc_max_length"],
        device=ENCODE["device"],
        precision=precision_flags(),
    shell:
        "splade encode --model {params.model:q} --collection {params.collection:q} --side doc"
        " --shard {wildcards.shard}/{params.shards} --max-length {params.max_length} --batch-size {params.batch_size}"
        " --threads {threads} --device {params.device} {params.precision} --no-progress --output {output} > {log} 2>&1"


rule merge_corpus:
    input:
        lambda wildcards: [
            f"{R}/encoded/{wildcards.corpus}/{wildcards.model}/{wildcards.setting}/docs.shard{shard}.npz"
            for shard in range(ENCODE["shards"])
        ],
    output:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.npz",
    log:
        f"{R}/logs/merge_corpus/{{corpus}}/{{model}}/{{setting}}.log",
    benchmark:
        f"{R}/benchmarks/merge_corpus/{{corpus}}/{{model}}/{{setting}}.tsv"
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 1),
    shell:
        "splade merge {input} --output {output} > {log} 2>&1"


IMPORT = (
    "splade import {input.files:q} {params.vocabulary} --scale {params.scale} --unknown {params.unknown}"
    " --output {output} > {log} 2>&1"
)


rule import_corpus:
    input:
        files=lambda wildcards: IMPORTS[wildcards.model]["docs"][wildcards.corpus],
        vocabulary=vocabulary_input,
    output:
        f"{R}/imported/{{corpus}}/{{model}}/docs.npz",
    log:
        f"{R}/logs/import_corpus/{{corpus}}/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/import_corpus/{{corpus}}/{{model}}.tsv"
    resources:
        mem_mb=memory(1000, 0.1),
        runtime=minutes(10, 5),
    params:
        vocabulary=vocabulary_flag,
        scale=lambda wildcards: config["models"][wildcards.model]["vectors"]["scale"],
        unknown=lambda wildcards: config["models"][wildcards.model]["vectors"][
            "unknown"
        ],
    shell:
        IMPORT


rule import_queries:
    input:
        files=lambda wildcards: IMPORTS[wildcards.model]["queries"][wildcards.dataset],
        vocabulary=vocabulary_input,
    output:
        f"{R}/imported/{{dataset}}/{{model}}/queries.npz",
    log:
        f"{R}/logs/import_queries/{{dataset}}/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/import_queries/{{dataset}}/{{model}}.tsv"
    resources:
        mem_mb=memory(1000, 2),
        runtime=minutes(5, 5),
    params:
        vocabulary=vocabulary_flag,
        scale=lambda wildcards: config["models"][wildcards.model]["vectors"]["scale"],
        unknown=lambda wildcards: config["models"][wildcards.model]["vectors"][
            "unknown"
        ],
    shell:
        IMPORT


rule encode_queries:
    input:
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        model=model_input,
    output:
        f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.npz",
    log:
        f"{R}/logs/encode_queries/{{dataset}}/{{model}}/{{setting}}.log",
    benchmark:
        f"{R}/benchmarks/encode_queries/{{dataset}}/{{model}}/{{setting}}.tsv"
    threads: encode_threads()
    resources:
        mem_mb=encode_memory(ENCODE["query_max_length"]),
        runtime=encode_minutes("collection"),
        gpu=int(on_cuda(ENCODE["device"])),
    params:
        model=model_dir,
        collection=dataset_folder,
        batch_size=ENCODE["batch_size"],
        max_length=ENCODE["query_max_length"],
        device=ENCODE["device"],
        precision=precision_flags(),
    shell:
        "splade encode --model {params.model:q} --collection {params.collection:q} --side query"
        " --max-length {params.max_length} --batch-size {params.batch_size} --threads {threads}"
        " --device {params.device} {params.precision} --no-progress --output {output} > {log} 2>&1"
