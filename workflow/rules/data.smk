# The download stage: the only jobs that touch the network, ir_datasets' cache or the HF cache.
# They run where Snakemake runs (local rules: the login node under SLURM) and write under
# resources/, which many studies share; every later job reads only those folders.
#   snakemake download        run this stage alone (on a login node, before the compute jobs)
DOWNLOADS = STUDY.downloads  # kind -> folder under resources/ -> what fills it


rule download_corpus:
    output:
        f"{RES}/corpora/{{docs_key}}/manifest.json",
    log:
        STUDY.log("download/corpora", "{docs_key}"),
    benchmark:
        STUDY.benchmark("download/corpora", "{docs_key}")
    wildcard_constraints:
        docs_key=".+",
    localrule: True
    params:
        spec=lambda wildcards: DOWNLOADS["corpora"][
            f"{RES}/corpora/{wildcards.docs_key}"
        ],
        resources=RES,
    shell:
        "splade download collection {params.spec:q} --part docs --resources {params.resources:q} --no-progress"
        " > {log} 2>&1"


rule download_collection:
    input:
        lambda wildcards: manifest(
            STUDY.corpus_folder(
                DOWNLOADS["collections"][
                    f"{RES}/collections/{wildcards.collection_key}"
                ]
            )
        ),
    output:
        f"{RES}/collections/{{collection_key}}/manifest.json",
    log:
        STUDY.log("download/collections", "{collection_key}"),
    benchmark:
        STUDY.benchmark("download/collections", "{collection_key}")
    wildcard_constraints:
        collection_key=".+",
    localrule: True
    params:
        spec=lambda wildcards: DOWNLOADS["collections"][
            f"{RES}/collections/{wildcards.collection_key}"
        ],
        resources=RES,
    shell:
        "splade download collection {params.spec:q} --part topics --resources {params.resources:q} --no-progress"
        " > {log} 2>&1"


rule download_model:
    output:
        f"{RES}/models/{{model_key}}/manifest.json",
    log:
        STUDY.log("download/models", "{model_key}"),
    benchmark:
        STUDY.benchmark("download/models", "{model_key}")
    wildcard_constraints:
        model_key=".+",
    localrule: True
    params:
        spec=lambda wildcards: DOWNLOADS["models"][
            f"{RES}/models/{wildcards.model_key}"
        ][0],
        kind=lambda wildcards: DOWNLOADS["models"][
            f"{RES}/models/{wildcards.model_key}"
        ][1],
        resources=RES,
    shell:
        "splade download model {params.spec:q} --kind {params.kind} --resources {params.resources:q}"
        " --no-progress > {log} 2>&1"


rule download_file:
    output:
        f"{RES}/files/{{file_key}}/manifest.json",
    log:
        STUDY.log("download/files", "{file_key}"),
    benchmark:
        STUDY.benchmark("download/files", "{file_key}")
    wildcard_constraints:
        file_key=".+",
    localrule: True
    params:
        url=lambda wildcards: DOWNLOADS["files"][f"{RES}/files/{wildcards.file_key}"],
        resources=RES,
    shell:
        "splade download file {params.url:q} --resources {params.resources:q} --no-progress > {log} 2>&1"
