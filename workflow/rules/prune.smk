rule prune_index:
    input:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/docs.q.npz",
    output:
        f"{R}/encoded/{{corpus}}/{{model}}/{{setting}}/prune={{method}}-{{value}}/docs.q.npz",
    log:
        f"{R}/logs/prune_index/{{corpus}}/{{model}}/{{setting}}/{{method}}-{{value}}.log",
    benchmark:
        f"{R}/benchmarks/prune_index/{{corpus}}/{{model}}/{{setting}}/{{method}}-{{value}}.tsv"
    wildcard_constraints:
        method="|".join(STUDY_PRUNING_METHODS),
        value="[0-9]+",
    resources:
        mem_mb=memory(600, 0.15),
        runtime=minutes(5, 1),
    shell:
        "splade prune {input} --method {wildcards.method} --value {wildcards.value} --output {output} > {log} 2>&1"
