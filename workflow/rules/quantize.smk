QUANTIZE = "splade quantize {input} --scale {params.scale} --dtype {params.dtype} --output {output} > {log} 2>&1"


rule quantize_corpus:
    input:
        float_docs,
    output:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.q.npz",
    log:
        f"{R}/logs/quantize_corpus/{{corpus}}/{{model}}/{{setting}}.log",
    benchmark:
        f"{R}/benchmarks/quantize_corpus/{{corpus}}/{{model}}/{{setting}}.tsv"
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
        float_queries,
    output:
        f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.q.npz",
    log:
        f"{R}/logs/quantize_queries/{{dataset}}/{{model}}/{{setting}}.log",
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 1),
    params:
        scale=QUANT["scale"],
        dtype=QUANT["dtype"],
    shell:
        QUANTIZE
