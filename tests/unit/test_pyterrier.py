"""The PyTerrier transformers give `splade search`'s, `splade bm25`'s and `splade evaluate`'s
figures on a SciFact sample (20 test queries, their judged abstracts and the first 120 abstracts)
indexed through the CLI."""

import json

import numpy as np
import pandas as pd
import pytest

pt = pytest.importorskip("pyterrier")

from splade_core.cli import main  # noqa: E402
from splade_core.data.collections import BUNDLED_ROOT  # noqa: E402
from splade_core.errors import SpladeError  # noqa: E402
from splade_core.pyterrier import (  # noqa: E402
    BM25Retriever,
    SpladeQueryEncoder,
    SpladeRetriever,
    collection_qrels,
    collection_topics,
)
from splade_core.sparse import SparseVectors  # noqa: E402

from ..conftest import EMBEDDED_MODEL, another_model  # noqa: E402

K = 20


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A BEIR folder sampled from the bundled SciFact, its vectors, index and runs (CLI verbs)."""
    root = tmp_path_factory.mktemp("pyterrier")
    scifact = BUNDLED_ROOT / "scifact"
    judged: dict[str, list[str]] = {}
    for line in (scifact / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, docno, _ = line.split("\t")
        if qid in judged or len(judged) < 20:
            judged.setdefault(qid, []).append(docno)
    wanted = {docno for docs in judged.values() for docno in docs}
    folder = root / "scifact-sample"
    (folder / "qrels").mkdir(parents=True)
    corpus = [line for line in (scifact / "corpus.jsonl").read_text().splitlines() if line]
    kept = [line for row, line in enumerate(corpus) if row < 120 or json.loads(line)["_id"] in wanted]
    (folder / "corpus.jsonl").write_text("\n".join(kept) + "\n")
    queries = [line for line in (scifact / "queries.jsonl").read_text().splitlines() if line]
    (folder / "queries.jsonl").write_text("\n".join(q for q in queries if json.loads(q)["_id"] in judged) + "\n")
    qrels = "".join(f"{qid}\t{docno}\t1\n" for qid, docs in judged.items() for docno in docs)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    spec, out = str(folder), root
    steps = [
        ["encode", "--collection", spec, "--side", "doc", "--output", f"{out}/docs.npz", "--no-progress"],
        ["encode", "--collection", spec, "--side", "query", "--output", f"{out}/queries.npz", "--no-progress"],
        ["quantize", f"{out}/docs.npz", "--output", f"{out}/docs.q.npz"],
        ["quantize", f"{out}/queries.npz", "--output", f"{out}/queries.q.npz"],
        ["index", f"{out}/docs.q.npz", "--output", f"{out}/index.bin"],
        ["search", "--queries", f"{out}/queries.q.npz", "--index", f"{out}/index.bin", "--k", str(K)]
        + ["--output", f"{out}/run.trec"],
        ["search", "--queries", f"{out}/queries.npz", "--index", f"{out}/index.bin", "--k", str(K)]
        + ["--output", f"{out}/float.trec"],
        ["evaluate", "--run", f"{out}/run.trec", "--collection", spec, "--output", f"{out}/run.json"],
        ["bm25", "--collection", spec, "--k", str(K), "--output", f"{out}/bm25.trec"],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    return {"spec": spec, "out": out, "index": out / "index.bin"}


def run_frame(path) -> pd.DataFrame:
    """A TREC run as PyTerrier reads it, with PyTerrier's ranks (from 0)."""
    run = pt.io.read_results(str(path))
    return run.assign(rank=run["rank"] - 1 + pt.model.FIRST_RANK)[["qid", "docno", "score", "rank"]]


def results(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["qid", "docno", "score", "rank"]].reset_index(drop=True)


def query_toks(path, tokens=None) -> pd.DataFrame:
    """The rows of a query vector file as a query_toks frame (term ids, or token strings)."""
    vectors = SparseVectors.load(path)
    rows = []
    for row in range(vectors.n_rows):
        begin, end = vectors.indptr[row], vectors.indptr[row + 1]
        terms, weights = vectors.indices[begin:end].tolist(), vectors.data[begin:end].tolist()
        rows.append({(tokens[t] if tokens is not None else t): w for t, w in zip(terms, weights)})
    return pd.DataFrame({"qid": vectors.ids.astype(str), "query_toks": rows})


@pytest.fixture(scope="module")
def encoder():
    return SpladeQueryEncoder(EMBEDDED_MODEL)


def test_query_vectors_give_the_run_of_splade_search(built, encoder):
    expected = run_frame(built["out"] / "run.trec")
    by_id = SpladeRetriever(built["index"], k=K).transform(query_toks(built["out"] / "queries.q.npz"))
    pd.testing.assert_frame_equal(results(by_id), expected)
    named = query_toks(built["out"] / "queries.q.npz", encoder.tokens)
    by_token = SpladeRetriever(built["index"], EMBEDDED_MODEL, k=K).transform(named)
    pd.testing.assert_frame_equal(results(by_token), expected)
    assert list(by_token.columns) == ["qid", "query_toks", "docno", "score", "rank"]


def test_float_query_vectors_score_as_splade_search_scores_a_float_query_file(built):
    found = SpladeRetriever(built["index"], k=K).transform(query_toks(built["out"] / "queries.npz"))
    expected = run_frame(built["out"] / "float.trec")
    pd.testing.assert_frame_equal(results(found), expected, check_exact=False, atol=1e-6, rtol=0)


def test_query_texts_encoded_by_the_model_give_the_same_run(built, encoder):
    topics = collection_topics(built["spec"])
    expected = run_frame(built["out"] / "run.trec")
    retriever = SpladeRetriever(built["index"], EMBEDDED_MODEL, k=K)
    direct = retriever.transform(topics)
    pd.testing.assert_frame_equal(results(direct), expected)
    assert list(direct.columns) == ["qid", "query", "docno", "score", "rank"]
    pipeline = retriever.query_encoder() >> SpladeRetriever(built["index"], EMBEDDED_MODEL, k=K)
    pd.testing.assert_frame_equal(results(pipeline.transform(topics)), expected)
    # the encoder writes the quantized file's vectors, named by token
    encoded = encoder.transform(topics)
    assert (
        encoded["query_toks"].tolist()
        == query_toks(built["out"] / "queries.q.npz", encoder.tokens)["query_toks"].tolist()
    )
    assert retriever.query_encoder().scale == 100.0 and retriever.query_encoder().dtype == "uint8"


def test_a_model_other_than_the_index_ones_is_refused_unless_allowed(built, tmp_path):
    other = another_model(tmp_path / "other-model")
    topics = collection_topics(built["spec"]).head(3)
    with pytest.raises(SpladeError, match=r"model .*other-model: encoded by model .* allow_model_mismatch=True"):
        SpladeRetriever(built["index"], other, k=K).transform(topics)
    found = SpladeRetriever(built["index"], other, k=K, allow_model_mismatch=True).transform(topics)
    assert set(found["qid"]) <= set(topics["qid"]) and len(found)


def test_equal_scores_keep_the_order_of_splade_search(built, tmp_path):
    """One-term queries of weight 1 score a document by its impact: many ties, all broken by row."""
    docs = SparseVectors.load(built["out"] / "docs.q.npz")
    terms = np.argsort(-docs.term_df(), kind="stable")[:8].astype(np.int32)
    ones = np.ones(len(terms), dtype=np.uint8)
    queries = SparseVectors(np.arange(len(terms) + 1), terms, ones, np.array([f"t{t}" for t in terms]), docs.vocab_size)
    queries.save(tmp_path / "ties.npz")
    argv = ["search", "--queries", f"{tmp_path}/ties.npz", "--index", str(built["index"]), "--k", "50"]
    assert main([*argv, "--output", f"{tmp_path}/ties.trec"]) == 0
    expected = run_frame(tmp_path / "ties.trec")
    assert expected.duplicated(["qid", "score"]).sum() > 100  # the test's premise: ties
    found = SpladeRetriever(built["index"], k=50).transform(query_toks(tmp_path / "ties.npz"))
    pd.testing.assert_frame_equal(results(found), expected)


def test_k_cuts_each_ranking_and_may_exceed_the_collection(built):
    toks = query_toks(built["out"] / "queries.q.npz")
    full = results(SpladeRetriever(built["index"], k=K).transform(toks))
    top5 = results(SpladeRetriever(built["index"], k=5).transform(toks))
    pd.testing.assert_frame_equal(top5, full[full["rank"] < pt.model.FIRST_RANK + 5].reset_index(drop=True))
    everything = SpladeRetriever(built["index"], k=10_000).transform(toks)
    n_docs = len(SparseVectors.load(built["out"] / "docs.q.npz").ids)
    assert everything.groupby("qid").size().max() <= n_docs
    assert (everything.groupby("qid")["rank"].max() == everything.groupby("qid").size() - 1).all()
    for k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            SpladeRetriever(built["index"], k=k)


def test_a_missing_or_foreign_index_is_one_line_naming_the_file(built, tmp_path):
    for path, problem in ((tmp_path / "missing.bin", "no such file"), (built["out"] / "run.trec", "not a splade")):
        with pytest.raises(SpladeError) as caught:
            SpladeRetriever(path)
        message = str(caught.value)
        assert str(path) in message and problem in message and "\n" not in message


def test_queries_it_cannot_read_are_one_line_errors(built):
    retriever = SpladeRetriever(built["index"], k=K)
    with pytest.raises(SpladeError, match="no model numbers them"):
        retriever.transform(pd.DataFrame({"qid": ["1"], "query_toks": [{"cancer": 2}]}))
    with pytest.raises(SpladeError, match="not in the vocabulary"):
        SpladeRetriever(built["index"], EMBEDDED_MODEL).transform(
            pd.DataFrame({"qid": ["1"], "query_toks": [{"no-such-token!": 2}]})
        )
    with pytest.raises(SpladeError, match="must be finite and non-negative"):
        retriever.transform(pd.DataFrame({"qid": ["1"], "query_toks": [{5: -1.0}]}))
    with pytest.raises(pt.validate.InputValidationError):
        retriever.transform(pd.DataFrame({"qid": ["1"], "query": ["text, but no model"]}))
    empty = retriever.transform(pd.DataFrame({"qid": ["1"], "query_toks": [{}]}))
    assert empty.empty and list(empty.columns) == ["qid", "query_toks", "docno", "score", "rank"]


def test_bm25_retriever_gives_the_run_of_splade_bm25(built):
    found = BM25Retriever(built["spec"], k=K).transform(collection_topics(built["spec"]))
    expected = run_frame(built["out"] / "bm25.trec")
    pd.testing.assert_frame_equal(results(found), expected, check_exact=False, atol=1e-6, rtol=0)


def test_experiment_gives_the_ndcg_of_trec_eval_on_the_run(built):
    import pytrec_eval

    topics, qrels = collection_topics(built["spec"]), collection_qrels(built["spec"])
    retriever = SpladeRetriever(built["index"], EMBEDDED_MODEL, k=K)
    table = pt.Experiment([retriever], topics, qrels, eval_metrics=["ndcg_cut_10"], names=["splade"])
    figure = table.set_index("name").loc["splade", "ndcg_cut_10"]
    # trec_eval's convention: the run's scores, equal scores ordered by docno
    run = pt.io.read_results(str(built["out"] / "run.trec"))
    scored = {qid: dict(zip(group["docno"], group["score"])) for qid, group in run.groupby("qid")}
    judged = {qid: dict(zip(group["docno"], group["label"].astype(int))) for qid, group in qrels.groupby("qid")}
    per_query = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut_10"}).evaluate(scored)
    assert figure == pytest.approx(np.mean([per_query.get(q, {"ndcg_cut_10": 0.0})["ndcg_cut_10"] for q in judged]))
    # `splade evaluate` keeps the run's order of equal scores instead: the same figure without ties
    if not run.duplicated(["qid", "score"]).any():
        assert figure == pytest.approx(json.loads((built["out"] / "run.json").read_text())["metrics"]["nDCG@10"])
    assert not pt.java.started()  # no JVM: PyTerrier's Java parts were never needed
