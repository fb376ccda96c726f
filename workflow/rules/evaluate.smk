# The evaluation stage: each run judged by its dataset's qrels, with the row's ids as labels and
# the seconds its training, encoding or BM25 retrieval took (from their benchmark files).
import shlex

BENCHMARK_SECONDS = shlex.join(
    [sys.executable, f"{workflow.basedir}/scripts/benchmark_seconds.py"]
)


def timing_flags(named_files):
    """`splade evaluate --timing NAME=SECONDS` flags, the seconds of each name's benchmark files
    summed when the job runs (scripts/benchmark_seconds.py); names without files are left out.
    """
    return " ".join(
        f'--timing {name}="$({BENCHMARK_SECONDS} {shlex.join(files)})"'
        for name, files in named_files.items()
        if files
    )


def encoding_timings(wildcards):
    """Benchmark files of the jobs that encoded this row's corpus and queries (none if imported)."""
    if wildcards.model in STUDY.imports:
        return []
    corpus = STUDY.corpus_of(wildcards.dataset)
    row = f"{wildcards.model}/{wildcards.setting}"
    shards = [
        STUDY.benchmark("encode_corpus", f"{corpus}/{row}/shard{shard}")
        for shard in range(ENCODE["shards"])
    ]
    return [*shards, STUDY.benchmark("encode_queries", f"{wildcards.dataset}/{row}")]


def training_timing(wildcards):
    if not fine_tuned(wildcards):
        return []
    return [STUDY.benchmark("train_model", f"{wildcards.model}/{wildcards.setting}")]


def exact_run(wildcards):
    """An approximate row's reference: the exact run of the same index (none for exact rows)."""
    if wildcards.search == EXACT:
        return []
    values = {
        key: getattr(wildcards, key) for key in ("dataset", "model", "setting", "prune")
    }
    return [path("run", **values, search=EXACT)]


rule evaluate_run:
    input:
        run=rules.retrieve.output.run,
        exact=exact_run,
        retrieval=rules.retrieve.output.stats,
        queries=rules.quantize_queries.output,
        docs=lambda wildcards: corpus_vectors(
            wildcards, STUDY.corpus_of(wildcards.dataset)
        ),
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
        encoding=encoding_timings,
        training=training_timing,
    output:
        metrics=path("metrics"),
        per_query=path("per_query"),
    log:
        STUDY.log("evaluate_run", "{dataset}/{model}/{setting}/{prune}/{search}"),
    benchmark:
        STUDY.benchmark("evaluate_run", "{dataset}/{model}/{setting}/{prune}/{search}")
    resources:
        mem_mb=memory(1000, 0.1),
        runtime=minutes(5, 1),
    params:
        collection=dataset_folder,
        timings=lambda wildcards, input: timing_flags(
            {"encoding_s": input.encoding, "training_s": input.training}
        ),
        exact=lambda wildcards, input: " ".join(
            f"--exact-run {file}" for file in input.exact
        ),
    shell:
        "splade evaluate --run {input.run} --collection {params.collection:q}"
        " --queries {input.queries} --docs {input.docs} --attach {input.retrieval} {params.timings}"
        " {params.exact} --label dataset={wildcards.dataset} --label model={wildcards.model}"
        " --label setting={wildcards.setting} --label prune={wildcards.prune}"
        " --label search={wildcards.search}"
        " --output {output.metrics} --per-query {output.per_query} > {log} 2>&1"


rule evaluate_bm25:
    input:
        run=rules.retrieve_bm25.output,
        timing=rules.retrieve_bm25.benchmark,
        collection=lambda wildcards: manifest(dataset_folder(wildcards)),
    output:
        metrics=path("bm25_metrics"),
        per_query=path("bm25_per_query"),
    log:
        STUDY.log("evaluate_run", "{dataset}/bm25"),
    benchmark:
        STUDY.benchmark("evaluate_run", "{dataset}/bm25")
    resources:
        mem_mb=memory(1000, 0.5),
        runtime=minutes(5, 1),
    params:
        collection=dataset_folder,
        timings=lambda wildcards, input: timing_flags({"retrieval_s": [input.timing]}),
    shell:
        "splade evaluate --run {input.run} --collection {params.collection:q} {params.timings}"
        " --label dataset={wildcards.dataset} --label model=bm25 --label setting=- --label prune=none"
        f" --label search={EXACT}"
        " --output {output.metrics} --per-query {output.per_query} > {log} 2>&1"
