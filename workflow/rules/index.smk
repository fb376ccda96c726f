rule build_index:
    input:
        corpus_vectors,
    output:
        index=path("index"),
        stats=path("index_stats"),
    log:
        STUDY.log("build_index", "{corpus}/{model}/{setting}/{prune}"),
    benchmark:
        STUDY.benchmark("build_index", "{corpus}/{model}/{setting}/{prune}")
    threads: config["threads"]["index"]
    resources:
        mem_mb=memory(1200, 1.6),
        runtime=minutes(10, 10),
    params:
        block_size=config["index"]["block_size"],
        reorder=config["index"]["reorder"],
    shell:
        "splade index {input} --block-size {params.block_size} --reorder {params.reorder}"
        " --threads {threads} --output {output.index} --stats {output.stats} > {log} 2>&1"
