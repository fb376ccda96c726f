# Exports for other engines: a setting's quantized vectors as Anserini JsonVectorCollection
# documents and TSV topics (-impact -pretokenized), or as a CIFF index (PISA's ciff2pisa, BMP's
# ciff2bmp), each format in a folder of its own (Anserini indexes a folder); .gz compresses:
#   snakemake export --cores 2     every model setting, unpruned: anserini/docs.jsonl, ciff/docs.ciff,
#                                  anserini/queries.tsv
#   snakemake --cores 2 results/export/<corpus>/<model>/<setting>/<pruning>/ciff/docs.ciff.gz
#   (anserini/docs.jsonl[.gz]; results/export/<dataset>/<model>/<setting>/anserini/queries.jsonl)
EXPORT_FILES = {
    "anserini": "jsonl",
    "ciff": "ciff",
}  # format folder -> its documents' file


def export_format(wildcards):
    """`splade export --format` of a document export: its folder, which the file name matches
    (anserini/docs.jsonl[.gz], ciff/docs.ciff[.gz])."""
    if wildcards.ext.removesuffix(".gz") != EXPORT_FILES[wildcards.format]:
        raise ValueError(
            f"{wildcards.format}/docs.{wildcards.ext}: the {wildcards.format} export is"
            f" docs.{EXPORT_FILES[wildcards.format]} (or .gz)"
        )
    return wildcards.format


def export_model(wildcards):
    """The model whose tokenizer names the vectors' terms: the one that encoded them, or the
    downloaded `path` of pre-encoded vectors."""
    if wildcards.model not in STUDY.imports:
        return model_dir(wildcards)
    if not STUDY.needs_model(wildcards.model):
        raise ValueError(
            f"models.{wildcards.model}: its vectors are .npz files, so no tokenizer is downloaded"
            " to name their terms: export them with `splade export --model` by hand"
        )
    return base_model(wildcards)


def export_model_input(wildcards):
    if wildcards.model in STUDY.imports:
        return vocabulary_input(wildcards)
    return model_input(wildcards)


def all_exports():
    """Every model setting's unpruned vectors, for Anserini and as CIFF (a corpus shared by
    datasets once); models whose tokenizer is not downloaded (.npz imports) are left out.
    """
    out = []
    for dataset in STUDY.datasets:
        for model, setting in STUDY.model_settings():
            if not STUDY.needs_model(model):
                continue
            row = {"model": model, "setting": setting.id}
            docs = {**row, "corpus": STUDY.corpus_of(dataset), "prune": NO_PRUNING}
            out += [
                path("export_docs", **docs, format="anserini", ext="jsonl"),
                path("export_docs", **docs, format="ciff", ext="ciff"),
                path("export_queries", **row, dataset=dataset, ext="tsv"),
            ]
    return list(dict.fromkeys(out))


rule export_corpus:
    input:
        vectors=corpus_vectors,
        model=export_model_input,
    output:
        path("export_docs"),
    log:
        STUDY.log(
            "export_corpus", "{corpus}/{model}/{setting}/{prune}/{format}/docs.{ext}"
        ),
    benchmark:
        STUDY.benchmark(
            "export_corpus", "{corpus}/{model}/{setting}/{prune}/{format}/docs.{ext}"
        )
    wildcard_constraints:
        format="anserini|ciff",
        ext=r"(jsonl|ciff)(\.gz)?",
    resources:
        mem_mb=memory(800, 0.1),
        runtime=minutes(10, 10),
    params:
        format=export_format,
        model=export_model,
    shell:
        "splade export {input.vectors} --format {params.format} --model {params.model:q} --no-progress"
        " --output {output} > {log} 2>&1"


rule export_queries:
    input:
        vectors=rules.quantize_queries.output,
        model=export_model_input,
    output:
        path("export_queries"),
    log:
        STUDY.log(
            "export_queries", "{dataset}/{model}/{setting}/anserini/queries.{ext}"
        ),
    wildcard_constraints:
        ext="tsv|jsonl",
    resources:
        mem_mb=memory(600, 0.1),
        runtime=minutes(5, 5),
    params:
        model=export_model,
    shell:
        "splade export {input.vectors} --format anserini --queries --query-format {wildcards.ext}"
        " --model {params.model:q} --no-progress --output {output} > {log} 2>&1"


# Hub-ready model folders (`snakemake hub`, not part of `all`): each fine-tuned model copied with
# its card's `model-index` filled from every dataset's summary (its unpruned rows). The folder
# loads with splade-core and sentence-transformers' SparseEncoder alike.
def all_hub_models():
    return [
        path("hub", model=model, setting=setting.id)
        for model, setting in STUDY.model_settings()
        if setting.fine_tuned
    ]


rule publish_model:
    input:
        model=lambda wildcards: path(
            "model", model=wildcards.model, setting=wildcards.setting
        ),
        summaries=[
            f"{path('summary', dataset=dataset)}.csv" for dataset in STUDY.datasets
        ],
    output:
        directory(path("hub")),
    log:
        STUDY.log("publish_model", "{model}/{setting}"),
    resources:
        mem_mb=500,
        runtime=10,
    params:
        dataset_ids={
            dataset: STUDY.collection_of(dataset) for dataset in STUDY.datasets
        },
    script:
        "../scripts/publish_model.py"
