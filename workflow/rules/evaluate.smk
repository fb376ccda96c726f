rule evaluate_run:
    input:
        run=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/run.trec",
        retrieval=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/retrieval.json",
        queries=f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.q.npz",
        docs=lambda wildcards: corpus_vectors(wildcards, corpus_of(wildcards.dataset)),
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        encoding=encoding_timings,
        training=training_timing,
    output:
        metrics=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/metrics.json",
        per_query=f"{R}/{{dataset}}/{{model}}/{{setting}}/prune={{prune}}/perquery.tsv",
    log:
        f"{R}/logs/evaluate_run/{{dataset}}/{{model}}/{{setting}}/{{prune}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate_run/{{dataset}}/{{model}}/{{setting}}/{{prune}}.tsv"
    resources:
        mem_mb=memory(1000, 0.1),
        runtime=minutes(5, 1),
    params:
        collection=dataset_folder,
        labels=setting_labels,
        timings=lambda wildcards, input: timing_flags(
            {"encoding_s": input.encoding, "training_s": input.training}
        ),
    shell:
        "splade evaluate --run {input.run} --collection {params.collection:q}"
        " --queries {input.queries} --docs {input.docs} --attach {input.retrieval} {params.timings}"
        " --label dataset={wildcards.dataset} --label model={wildcards.model}"
        " --label setting={wildcards.setting} --label prune={wildcards.prune} {params.labels}"
        " --output {output.metrics} --per-query {output.per_query} > {log} 2>&1"


rule evaluate_bm25:
    input:
        run=f"{R}/{{dataset}}/bm25/run.trec",
        timing=f"{R}/benchmarks/retrieve_bm25/{{dataset}}.tsv",
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
    output:
        metrics=f"{R}/{{dataset}}/bm25/metrics.json",
        per_query=f"{R}/{{dataset}}/bm25/perquery.tsv",
    log:
        f"{R}/logs/evaluate_run/{{dataset}}/bm25.log",
    benchmark:
        f"{R}/benchmarks/evaluate_run/{{dataset}}/bm25.tsv"
    resources:
        mem_mb=memory(1000, 0.5),
        runtime=minutes(5, 1),
    params:
        collection=dataset_folder,
        timings=lambda wildcards, input: timing_flags({"retrieval_s": [input.timing]}),
    shell:
        "splade evaluate --run {input.run} --collection {params.collection:q} {params.timings}"
        " --label dataset={wildcards.dataset} --label model=bm25 --label setting=- --label prune=none"
        " --output {output.metrics} --per-query {output.per_query} > {log} 2>&1"
