import json


rule aggregate_results:
    input:
        metrics=lambda wildcards: rows(wildcards.dataset),
        per_query=lambda wildcards: rows(wildcards.dataset, "perquery.tsv"),
    output:
        csv=report(
            f"{R}/{{dataset}}/summary.csv",
            caption="../report/summary_csv.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        html=report(
            f"{R}/{{dataset}}/summary.html",
            caption="../report/summary.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        md=f"{R}/{{dataset}}/summary.md",
        flops=report(
            f"{R}/{{dataset}}/plots/effectiveness_vs_flops.png",
            caption="../report/effectiveness_vs_flops.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
        latency=report(
            f"{R}/{{dataset}}/plots/effectiveness_vs_latency.png",
            caption="../report/effectiveness_vs_latency.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
        pruning=report(
            f"{R}/{{dataset}}/plots/pruning.png",
            caption="../report/pruning.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
    log:
        f"{R}/logs/aggregate_results/{{dataset}}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        metric=config["report"]["metric"],
        baseline=baseline_flags(),
        test=config["report"]["test"],
        alpha=config["report"]["alpha"],
        output_dir=lambda wildcards, output: Path(output.csv).parent,
    shell:
        "splade aggregate {input.metrics} --per-query {input.per_query} {params.baseline}"
        " --test {params.test} --alpha {params.alpha} --metric {params.metric:q}"
        " --output-dir {params.output_dir} > {log} 2>&1"


# Report glue (scripts/report_pages.py): the time of every rule from its benchmark files, and
# the config as validated (defaults filled in), as pages of the HTML report. Runs after every summary.
rule tabulate_benchmarks:
    input:
        all_summaries(),
        [f"{R}/{dataset}/summary.html" for dataset in config["datasets"]],
    output:
        benchmarks=report(
            f"{R}/report/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Study",
        ),
        config=report(
            f"{R}/report/config.html",
            caption="../report/config.rst",
            category="Study",
        ),
    log:
        f"{R}/logs/tabulate_benchmarks.log",
    localrule: True
    params:
        benchmarks=f"{R}/benchmarks",
        config=json.loads(json.dumps(config)),
        configfiles=[str(path) for path in workflow.configfiles],
    script:
        "../scripts/report_pages.py"
