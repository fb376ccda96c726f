# Static pruning of the quantized documents: the pruning's method and value are looked up by its id.
rule prune_index:
    input:
        rules.quantize_corpus.output,
    output:
        path("pruned_docs"),
    log:
        STUDY.log("prune_index", "{corpus}/{model}/{setting}/{prune}"),
    benchmark:
        STUDY.benchmark("prune_index", "{corpus}/{model}/{setting}/{prune}")
    wildcard_constraints:
        prune=f"({'|'.join(STUDY_PRUNING_METHODS)})-[0-9]+",
    resources:
        mem_mb=memory(600, 0.15),
        runtime=minutes(5, 1),
    params:
        method=lambda wildcards: STUDY.pruning(wildcards.prune).method,
        value=lambda wildcards: STUDY.pruning(wildcards.prune).value,
    shell:
        "splade prune {input} --method {params.method} --value {params.value} --output {output} > {log} 2>&1"
