rule build_index:
    input:
        corpus_vectors,
    output:
        index=f"{R}/index/{{corpus}}/{{model}}/{{setting}}/prune={{prune}}/index.bin",
        stats=f"{R}/index/{{corpus}}/{{model}}/{{setting}}/prune={{prune}}/index.json",
    log:
        f"{R}/logs/build_index/{{corpus}}/{{model}}/{{setting}}/{{prune}}.log",
    benchmark:
        f"{R}/benchmarks/build_index/{{corpus}}/{{model}}/{{setting}}/{{prune}}.tsv"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        block_size=config["index"]["block_size"],
    shell:
        "splade index {input} --block-size {params.block_size} --output {output.index}"
        " --stats {output.stats} > {log} 2>&1"
