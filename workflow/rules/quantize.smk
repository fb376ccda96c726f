QUANTIZE = "splade quantize {input} --scale {params.scale} --dtype {params.dtype} --output {output} > {log} 2>&1"


rule quantize_corpus:
    input:
        lambda wildcards: float_vectors("docs", wildcards),
    output:
        path("quantized_docs"),
    log:
        STUDY.log("quantize_corpus", "{corpus}/{model}/{setting}"),
    benchmark:
        STUDY.benchmark("quantize_corpus", "{corpus}/{model}/{setting}")
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 1),
    params:
        scale=QUANT["scale"],
        dtype=QUANT["dtype"],
    shell:
        QUANTIZE


rule quantize_queries:
    input:
        lambda wildcards: float_vectors("queries", wildcards),
    output:
        path("quantized_queries"),
    log:
        STUDY.log("quantize_queries", "{dataset}/{model}/{setting}"),
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 1),
    params:
        scale=QUANT["scale"],
        dtype=QUANT["dtype"],
    shell:
        QUANTIZE
