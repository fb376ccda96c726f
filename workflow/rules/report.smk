# The report stage: each dataset's summary (rows in STUDY.rows order, each row's λs as typed
# values), and the study's timing and config pages of the HTML report.
import json
import time


def row_files(dataset, kind):
    """`kind` ("metrics", "per_query") of every row of a dataset's summary, in one order."""
    return [
        (
            path(f"bm25_{kind}", dataset=dataset)
            if row.is_bm25
            else path(kind, **row.labels())
        )
        for row in STUDY.rows(dataset)
    ]


def summary_file(ext):
    return f"{path('summary')}.{ext}"


rule aggregate_results:
    input:
        metrics=lambda wildcards: row_files(wildcards.dataset, "metrics"),
        per_query=lambda wildcards: row_files(wildcards.dataset, "per_query"),
    output:
        csv=report(
            summary_file("csv"),
            caption="../report/summary_csv.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        html=report(
            summary_file("html"),
            caption="../report/summary.rst",
            category="Results",
            subcategory="{dataset}",
        ),
        md=summary_file("md"),
        flops=report(
            f"{path('plots')}/effectiveness_vs_flops.png",
            caption="../report/effectiveness_vs_flops.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
        latency=report(
            f"{path('plots')}/effectiveness_vs_latency.png",
            caption="../report/effectiveness_vs_latency.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
        pruning=report(
            f"{path('plots')}/pruning.png",
            caption="../report/pruning.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
    log:
        STUDY.log("aggregate_results", "{dataset}"),
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        lambdas={s.id: {"lq": s.lq, "ld": s.ld} for s in STUDY.lambda_settings},
        baseline=STUDY.baseline_labels(),
        metric=config["report"]["metric"],
        test=config["report"]["test"],
        alpha=config["report"]["alpha"],
        output_dir=lambda wildcards, output: Path(output.csv).parent,
    script:
        "../scripts/aggregate.py"


# Report glue (scripts/report_pages.py): the time of every rule from its benchmark files, and
# the config as validated (defaults filled in), as pages of the HTML report. Runs after every summary.
rule tabulate_benchmarks:
    input:
        summaries(),
        [summary_file("html").format(dataset=dataset) for dataset in STUDY.datasets],
    output:
        benchmarks=report(
            f"{path('report')}/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Study",
        ),
        config=report(
            f"{path('report')}/config.html",
            caption="../report/config.rst",
            category="Study",
        ),
    log:
        STUDY.log("tabulate_benchmarks", "study"),
    localrule: True
    params:
        benchmarks=path("benchmarks"),
        config=json.loads(json.dumps(config)),
        configfiles=[str(file) for file in workflow.configfiles],
    script:
        "../scripts/report_pages.py"


STARTED = time.time()


def print_new_summaries(summaries):
    """At the end of a run, show the summaries it (re)wrote and where the plots are."""
    for summary in map(Path, summaries):
        if summary.is_file() and summary.stat().st_mtime >= STARTED:
            print(summary.read_text())
            print(f"summary: {summary} (and .csv); plots: {summary.parent / 'plots'}")
