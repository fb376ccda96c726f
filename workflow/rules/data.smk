rule prepare_collection:
    output:
        f"{R}/data/{{dataset}}.json",
    log:
        f"{R}/logs/prepare_collection/{{dataset}}.log",
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        collection=lambda wildcards: collection_of(wildcards.dataset),
    shell:
        "splade prepare --collection {params.collection:q} --output {output} > {log} 2>&1"


rule prepare_training_collection:
    output:
        f"{R}/data/training.json",
    log:
        f"{R}/logs/prepare_collection/training.log",
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        collection=config["training"]["collection"],
    shell:
        "splade prepare --collection {params.collection:q} --output {output} > {log} 2>&1"
