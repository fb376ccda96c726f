rule retrieve:
    input:
        index=lambda wildcards: f"{R}/index/{corpus_of(wildcards.dataset)}/{wildcards.model}/{wildcards.setting}/prune={wildcards.prune}/index.bin",
        queries=f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.q.npz",
    output:
        run=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/run.trec",
        stats=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/retrieval.json",
    log:
        f"{R}/logs/retrieve/{{dataset}}/{{model}}/{{setting}}/{{prune}}.log",
    benchmark:
        f"{R}/benchmarks/retrieve/{{dataset}}/{{model}}/{{setting}}/{{prune}}.tsv"
    threads: RETRIEVAL["threads"]
    resources:
        mem_mb=memory(1000, 1.2),
        runtime=minutes(10, 30),
    params:
        k=RETRIEVAL["k"],
        algorithm=RETRIEVAL["algorithm"],
    shell:
        "splade search --index {input.index} --queries {input.queries} --k {params.k}"
        " --algorithm {params.algorithm} --threads {threads} --output {output.run}"
        " --stats {output.stats} > {log} 2>&1"


rule retrieve_bm25:
    input:
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        corpus=lambda wildcards: manifest(
            corpus_folder(collection_of(wildcards.dataset))
        ),
    output:
        f"{R}/{{dataset}}/bm25/run.trec",
    log:
        f"{R}/logs/retrieve_bm25/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/retrieve_bm25/{{dataset}}.tsv"
    resources:
        # the index of the whole corpus, built a chunk of texts at a time; then one query at a time
        mem_mb=memory(1000, 3.5, of=["corpus"]),
        runtime=minutes(10, 15, of=["corpus"]),
    params:
        collection=dataset_folder,
        k=RETRIEVAL["k"],
    shell:
        "splade bm25 --collection {params.collection:q} --k {params.k} --output {output} > {log} 2>&1"
