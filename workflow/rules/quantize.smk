QUANTIZE = "splade quantize {input} --scale {params.scale} --dtype {params.dtype} --output {output} > {log} 2>&1"


rule quantize_corpus:
    input:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.npz",
    output:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.q.npz",
    log:
        f"{R}/logs/quantize_corpus/{{corpus}}/{{model}}/{{setting}}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        scale=QUANT["scale"],
        dtype=QUANT["dtype"],
    shell:
        QUANTIZE


rule quantize_queries:
    input:
        f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.npz",
    output:
        f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.q.npz",
    log:
        f"{R}/logs/quantize_queries/{{dataset}}/{{model}}/{{setting}}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        scale=QUANT["scale"],
        dtype=QUANT["dtype"],
    shell:
        QUANTIZE
