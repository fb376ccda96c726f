import json
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from splade_core.cli import main
from splade_core.data import load_collection
from splade_core.index import InvertedIndex
from splade_core.retrieve import read_trec_run
from splade_core.sparse import SparseVectors

from ..conftest import EMBEDDED_MODEL, another_model


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_beir):
    """encode → quantize → search → evaluate on the tiny BEIR folder, through the CLI."""
    out = tmp_path_factory.mktemp("pipeline")
    spec = str(tiny_beir)
    steps = [
        [
            "encode",
            "--collection",
            spec,
            "--side",
            "doc",
            "--output",
            f"{out}/docs.npz",
            "--batch-size",
            "8",
            "--no-progress",
        ],
        ["encode", "--collection", spec, "--side", "query", "--output", f"{out}/queries.npz", "--no-progress"],
        ["quantize", f"{out}/docs.npz", "--output", f"{out}/docs.q.npz"],
        ["quantize", f"{out}/queries.npz", "--output", f"{out}/queries.q.npz"],
        [
            "search",
            "--queries",
            f"{out}/queries.npz",
            "--docs",
            f"{out}/docs.npz",
            "--k",
            "10",
            "--output",
            f"{out}/float.trec",
        ],
        [
            "search",
            "--queries",
            f"{out}/queries.q.npz",
            "--docs",
            f"{out}/docs.q.npz",
            "--k",
            "10",
            "--output",
            f"{out}/quant.trec",
        ],
        [
            "evaluate",
            "--run",
            f"{out}/float.trec",
            "--collection",
            spec,
            "--queries",
            f"{out}/queries.npz",
            "--docs",
            f"{out}/docs.npz",
            "--output",
            f"{out}/float.json",
        ],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    return out


def independent_dense_vectors(texts, max_length):
    """SPLADE vectors straight from transformers' full MLM logits, pooled in NumPy."""
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED_MODEL)
    model = AutoModelForMaskedLM.from_pretrained(EMBEDDED_MODEL).eval()
    vectors = []
    for text in texts:
        inputs = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0].numpy()
        vectors.append(np.log1p(np.maximum(logits, 0)).max(axis=0))
    return np.stack(vectors)


def test_vectors_and_ranking_agree_with_an_independent_dense_computation(pipeline, tiny_beir):
    collection = load_collection(str(tiny_beir))
    docs, queries = list(collection.docs()), collection.queries()
    ours_docs = SparseVectors.load(pipeline / "docs.npz")
    ours_queries = SparseVectors.load(pipeline / "queries.npz")
    assert ours_docs.ids.tolist() == [d for d, _ in docs]
    ref_docs = independent_dense_vectors([t for _, t in docs], 256)
    ref_queries = independent_dense_vectors([t for _, t in queries], 64)
    np.testing.assert_allclose(ours_docs.to_csr().toarray(), ref_docs, atol=2e-5)
    np.testing.assert_allclose(ours_queries.to_csr().toarray(), ref_queries, atol=2e-5)
    run = read_trec_run(pipeline / "float.trec")
    scores = ref_queries @ ref_docs.T
    for (query_id, _), row in zip(queries, scores):
        expected = [docs[i][0] for i in np.argsort(-row, kind="stable")[:10]]
        assert [doc_id for doc_id, _ in run[query_id]] == expected
        np.testing.assert_allclose([s for _, s in run[query_id]], np.sort(row)[::-1][:10], rtol=1e-5)


def test_quantized_run_is_exact_integer_dot_products(pipeline):
    queries = SparseVectors.load(pipeline / "queries.q.npz")
    docs = SparseVectors.load(pipeline / "docs.q.npz")
    assert queries.meta["quantization"]["scale"] == 100 and docs.data.dtype == np.uint8
    scores = (queries.to_csr().astype(np.int64) @ docs.to_csr().astype(np.int64).T).toarray()
    run = read_trec_run(pipeline / "quant.trec")
    doc_index = {doc_id: i for i, doc_id in enumerate(docs.ids)}
    for q, query_id in enumerate(queries.ids):
        ranked = [(s, doc_index[d]) for d, s in run[query_id]]
        assert [s for s, _ in ranked] == [scores[q, i] for _, i in ranked]
        assert ranked == sorted(ranked, key=lambda e: (-e[0], e[1]))


def test_evaluation_output(pipeline):
    result = json.loads((pipeline / "float.json").read_text())
    assert result["queries"] == 6 and set(result["metrics"]) == {"MRR@10", "nDCG@10", "R@100", "R@1000"}
    assert 0 < result["metrics"]["nDCG@10"] <= 1 and result["sparsity"]["flops"] > 0


def test_merged_shards_equal_a_single_encoding(pipeline, tiny_beir, tmp_path):
    for shard in range(3):
        argv = [
            "encode",
            "--collection",
            str(tiny_beir),
            "--side",
            "doc",
            "--shard",
            f"{shard}/3",
            "--output",
            f"{tmp_path}/s{shard}.npz",
            "--no-progress",
        ]
        assert main(argv) == 0
    assert main(["merge", *(f"{tmp_path}/s{i}.npz" for i in range(3)), "--output", f"{tmp_path}/all.npz"]) == 0
    merged, whole = SparseVectors.load(tmp_path / "all.npz"), SparseVectors.load(pipeline / "docs.npz")
    assert merged.ids.tolist() == whole.ids.tolist()
    np.testing.assert_allclose(merged.to_csr().toarray(), whole.to_csr().toarray(), atol=1e-5)


def test_mismatched_vocabulary_sizes_are_one_line_errors(pipeline, tmp_path, capsys):
    small = SparseVectors.from_csr(sp.csr_array((1, 100), dtype=np.float32), ["q"])
    small.save(tmp_path / "small.npz")
    code = main(
        [
            "search",
            "--queries",
            f"{tmp_path}/small.npz",
            "--docs",
            f"{pipeline}/docs.npz",
            "--output",
            f"{tmp_path}/r.trec",
        ]
    )
    assert code == 2
    assert "small.npz: vocabulary of" in capsys.readouterr().err
    assert not (tmp_path / "r.trec").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["encode", "--collection", "nowhere/none", "--side", "doc", "--output", "x.npz"],
            "unknown dataset 'nowhere/none'",
        ),
        (
            [
                "encode",
                "--model",
                "./no-model",
                "--collection",
                "bundled/cranfield",
                "--side",
                "doc",
                "--output",
                "x.npz",
            ],
            "unknown model path './no-model'",
        ),
        (["quantize", "missing.npz", "--output", "x.npz"], "missing.npz: no such file"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "splade_core", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_every_verb_has_help():
    for verb in ("encode", "merge", "quantize", "search", "bm25", "evaluate", "info"):
        with pytest.raises(SystemExit) as exit_info:
            main([verb, "--help"])
        assert exit_info.value.code == 0


def test_a_reordered_index_gives_the_brute_force_run(pipeline, tmp_path):
    out = tmp_path
    for reorder in ("none", "bp"):
        index = f"{out}/index-{reorder}.bin"
        argv = ["index", f"{pipeline}/docs.q.npz", "--block-size", "8", "--reorder", reorder, "--threads", "2"]
        assert main([*argv, "--output", index, "--stats", f"{out}/{reorder}.json"]) == 0
        search = ["search", "--index", index, "--queries", f"{pipeline}/queries.q.npz", "--k", "10"]
        assert main([*search, "--algorithm", "bmp", "--output", f"{out}/{reorder}.trec"]) == 0
    assert json.loads((out / "bp.json").read_text())["doc_order"] == "bp"
    assert read_trec_run(out / "bp.trec") == read_trec_run(out / "none.trec") == read_trec_run(pipeline / "quant.trec")


def test_queries_of_another_model_are_refused_unless_allowed(pipeline, tiny_beir, tmp_path, capsys):
    """The index records its documents' model; queries from another model with the same
    vocabulary are refused, while the same model loaded by another path is not."""
    index = tmp_path / "index.bin"
    assert main(["index", f"{pipeline}/docs.q.npz", "--output", str(index)]) == 0
    docs_meta = SparseVectors.load(pipeline / "docs.q.npz").meta
    assert {key: InvertedIndex.load(index).meta[key] for key in docs_meta} == docs_meta
    assert docs_meta["model_fingerprint"].startswith("sha256:")
    other = another_model(tmp_path / "other-model")
    encode = ["encode", "--collection", str(tiny_beir), "--side", "query", "--no-progress"]
    for name, model_path in (("same", EMBEDDED_MODEL), ("other", other)):
        assert main([*encode, "--model", str(model_path), "--output", f"{tmp_path}/{name}.npz"]) == 0
        assert main(["quantize", f"{tmp_path}/{name}.npz", "--output", f"{tmp_path}/{name}.q.npz"]) == 0
    search = ["search", "--index", str(index), "--k", "10", "--output", f"{tmp_path}/run.trec"]
    assert main([*search, "--queries", f"{tmp_path}/same.q.npz"]) == 0  # another path, the same weights
    assert read_trec_run(tmp_path / "run.trec") == read_trec_run(pipeline / "quant.trec")
    capsys.readouterr()
    for argv in (
        [*search, "--queries", f"{tmp_path}/other.q.npz"],
        ["search", "--docs", f"{pipeline}/docs.npz", "--queries", f"{tmp_path}/other.npz", "--output", "x.trec"],
        [
            "evaluate",
            "--run",
            f"{pipeline}/float.trec",
            "--collection",
            str(tiny_beir),
            "--queries",
            f"{tmp_path}/other.npz",
            "--docs",
            f"{pipeline}/docs.npz",
            "--output",
            f"{tmp_path}/e.json",
        ],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and re.search(r"other(\.q)?\.npz: encoded by model '", err), err
    assert not (tmp_path / "e.json").exists()
    assert main([*search, "--queries", f"{tmp_path}/other.q.npz", "--allow-model-mismatch"]) == 0


def test_search_statistics_name_the_algorithm_that_ran(pipeline, tmp_path):
    index, stats = tmp_path / "index.bin", tmp_path / "retrieval.json"
    assert main(["index", f"{pipeline}/docs.q.npz", "--output", str(index)]) == 0
    search = ["search", "--index", str(index), "--queries", f"{pipeline}/queries.q.npz", "--k", "10"]
    assert main([*search, "--output", str(tmp_path / "run.trec"), "--stats", str(stats)]) == 0
    assert json.loads(stats.read_text())["algorithm"] == "exhaustive"  # what 'default' resolved to


def test_presets_are_calibrated_at_build_and_named_by_search(pipeline, tmp_path, capsys):
    """`splade index --calibration-queries` stores the approximate presets (exact ones on a
    collection this small) and reports them; `search --algorithm approx-95` runs one and says
    which; an index built without calibration queries refuses presets in one line."""
    index, stats = tmp_path / "index.bin", tmp_path / "index.json"
    queries = f"{pipeline}/queries.q.npz"
    build = ["index", f"{pipeline}/docs.q.npz", "--output", str(index)]
    assert main([*build, "--calibration-queries", queries, "--stats", str(stats)]) == 0
    presets = json.loads(stats.read_text())["presets"]
    assert set(presets) == {"approx-95", "approx-99"} and presets["approx-95"]["algorithm"] == "exhaustive"
    search = ["search", "--index", str(index), "--queries", queries, "--k", "10"]
    assert main([*search, "--algorithm", "approx-95", "--output", f"{tmp_path}/run.trec", "--stats", str(stats)]) == 0
    ran = json.loads(stats.read_text())
    assert ran["algorithm"] == "approx-95" and ran["preset"] == presets["approx-95"]
    assert read_trec_run(tmp_path / "run.trec") == read_trec_run(pipeline / "quant.trec")
    assert main([*build]) == 0
    capsys.readouterr()
    assert main([*search, "--algorithm", "approx-99", "--output", f"{tmp_path}/x.trec"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds no calibrated preset 'approx-99'" in err, err
    assert not (tmp_path / "x.trec").exists()


def test_evaluate_records_stage_seconds_and_refuses_what_is_not_a_number(pipeline, tiny_beir, capsys):
    base = ["evaluate", "--run", f"{pipeline}/quant.trec", "--collection", str(tiny_beir)]
    timings = ["--timing", "encoding_s=1.5", "--timing", "encoding_s=2.25", "--timing", "training_s=10"]
    assert main([*base, *timings, "--output", f"{pipeline}/timed.json"]) == 0
    assert json.loads((pipeline / "timed.json").read_text())["timings"] == {"encoding_s": 3.75, "training_s": 10.0}
    capsys.readouterr()
    assert main([*base, "--timing", "training_s=", "--output", f"{pipeline}/bad.json"]) == 2
    assert "--timing training_s: '' is not a number of seconds" in capsys.readouterr().err
    assert not (pipeline / "bad.json").exists()
