# Exports for other engines: a setting's quantized vectors as Anserini JsonVectorCollection
# documents and TSV topics (-impact -pretokenized), or as a CIFF index (PISA's ciff2pisa, BMP's
# ciff2bmp), each format in a folder of its own (Anserini indexes a folder); .gz compresses:
#   snakemake export --cores 2     every model setting, unpruned: anserini/docs.jsonl, ciff/docs.ciff,
#                                  anserini/queries.tsv
#   snakemake --cores 2 results/export/<corpus>/<model>/<setting>/prune=<pruning>/ciff/docs.ciff.gz
#   (anserini/docs.jsonl[.gz]; results/export/<dataset>/<model>/<setting>/anserini/queries.jsonl)


rule export_corpus:
    input:
        vectors=corpus_vectors,
        model=export_model_input,
    output:
        f"{R}/export/{{corpus}}/{{model}}/{{setting}}/prune={{prune}}/{{format}}/docs.{{ext}}",
    log:
        f"{R}/logs/export_corpus/{{corpus}}/{{model}}/{{setting}}/{{prune}}/{{format}}/docs.{{ext}}.log",
    benchmark:
        f"{R}/benchmarks/export_corpus/{{corpus}}/{{model}}/{{setting}}/{{prune}}/{{format}}/docs.{{ext}}.tsv"
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
        vectors=f"{R}/{{dataset}}/{{model}}/{{setting}}/queries.q.npz",
        model=export_model_input,
    output:
        f"{R}/export/{{dataset}}/{{model}}/{{setting}}/anserini/queries.{{ext}}",
    log:
        f"{R}/logs/export_queries/{{dataset}}/{{model}}/{{setting}}/anserini/queries.{{ext}}.log",
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
