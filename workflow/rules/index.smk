def calibration_queries(wildcards):
    """The quantized queries that calibrate the index's approximate presets (none if the
    study searches exactly only)."""
    dataset = STUDY.calibration_dataset(wildcards.corpus)
    if dataset is None:
        return []
    values = {"model": wildcards.model, "setting": wildcards.setting}
    return [path("quantized_queries", dataset=dataset, **values)]


rule build_index:
    input:
        docs=corpus_vectors,
        calibration=calibration_queries,
    output:
        index=path("index"),
        stats=path("index_stats"),
    log:
        STUDY.log("build_index", "{corpus}/{model}/{setting}/{prune}"),
    benchmark:
        STUDY.benchmark("build_index", "{corpus}/{model}/{setting}/{prune}")
    threads: config["threads"]["index"]
    resources:
        mem_mb=index_memory(1200, 1.7),
        runtime=minutes(10, 10),
    params:
        block_size=config["index"]["block_size"],
        reorder=config["index"]["reorder"],
        calibration=lambda wildcards, input: " ".join(
            f"--calibration-queries {file}" for file in input.calibration
        ),
    shell:
        "splade index {input.docs} --block-size {params.block_size} --reorder {params.reorder}"
        " {params.calibration} --threads {threads} --output {output.index}"
        " --stats {output.stats} > {log} 2>&1"
