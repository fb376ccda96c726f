rule retrieve:
    input:
        index=lambda wildcards: path(
            "index",
            corpus=STUDY.corpus_of(wildcards.dataset),
            model=wildcards.model,
            setting=wildcards.setting,
            prune=wildcards.prune,
        ),
        queries=rules.quantize_queries.output,
    output:
        run=path("run"),
        stats=path("retrieval"),
    log:
        STUDY.log("retrieve", "{dataset}/{model}/{setting}/{prune}/{search}"),
    benchmark:
        STUDY.benchmark("retrieve", "{dataset}/{model}/{setting}/{prune}/{search}")
    threads: RETRIEVAL["threads"]
    resources:
        mem_mb=memory(1000, 1.2),
        runtime=minutes(10, 30),
    params:
        k=RETRIEVAL["k"],
        # exact: the configured algorithm; else the preset the index was calibrated for
        algorithm=lambda wildcards: (
            RETRIEVAL["algorithm"] if wildcards.search == EXACT else wildcards.search
        ),
    shell:
        "splade search --index {input.index} --queries {input.queries} --k {params.k}"
        " --algorithm {params.algorithm} --threads {threads} --output {output.run}"
        " --stats {output.stats} > {log} 2>&1"


rule retrieve_bm25:
    input:
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        corpus=lambda wildcards: manifest(
            STUDY.corpus_folder(STUDY.collection_of(wildcards.dataset))
        ),
    output:
        path("bm25_run"),
    log:
        STUDY.log("retrieve_bm25", "{dataset}"),
    benchmark:
        STUDY.benchmark("retrieve_bm25", "{dataset}")
    resources:
        # the index of the whole corpus, built a chunk of texts at a time; then one query at a time
        mem_mb=memory(1000, 3.5, of=["corpus"]),
        runtime=minutes(10, 15, of=["corpus"]),
    params:
        collection=dataset_folder,
        k=RETRIEVAL["k"],
    shell:
        "splade bm25 --collection {params.collection:q} --k {params.k} --output {output} > {log} 2>&1"
