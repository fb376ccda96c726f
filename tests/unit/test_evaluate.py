import math

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.evaluate import evaluate_run, sparsity_stats
from splade_core.retrieve.runs import UngroupedRun, iter_trec_run, read_trec_run, write_trec_run
from splade_core.sparse import SparseVectors

QRELS = {"q1": {"a": 1, "c": 2}, "q2": {"z": 1}, "q3": {"b": 1}}


def test_metrics_match_hand_computed_values():
    run = {"q1": [("b", 9.0), ("a", 8.0), ("c", 7.0)], "q2": [("y", 1.0)]}  # q3 absent: counts as 0
    result = evaluate_run(run, QRELS)
    dcg = 1 / math.log2(3) + 2 / math.log2(4)  # trec_eval's linear gains: a (1) at rank 2, c (2) at rank 3
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert result["queries"] == 3 and result["queries_retrieved"] == 2
    assert result["metrics"]["MRR@10"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert result["metrics"]["nDCG@10"] == pytest.approx((dcg / idcg) / 3)
    assert result["metrics"]["R@100"] == pytest.approx((1 + 0 + 0) / 3)


def test_rank_order_is_kept_for_tied_scores():
    # trec_eval alone would reorder equal scores by doc id ("z" before "a")
    run = {"q1": [("a", 5.0), ("z", 5.0)]}
    assert evaluate_run(run, {"q1": {"a": 1}})["metrics"]["MRR@10"] == 1.0


def test_mrr_is_cut_at_ten():
    run = {"q1": [(f"n{i}", 100.0 - i) for i in range(10)] + [("a", 1.0)]}
    assert evaluate_run(run, {"q1": {"a": 1}})["metrics"]["MRR@10"] == 0.0


def test_flops_is_sum_of_activation_probability_products():
    docs = SparseVectors.from_csr(sp.csr_array(np.array([[1, 1, 0], [1, 0, 0]], np.float32)), ["d1", "d2"])
    queries = SparseVectors.from_csr(sp.csr_array(np.array([[1, 0, 0], [1, 1, 1]], np.float32)), ["q1", "q2"])
    stats = sparsity_stats(queries, docs)
    # p_q = (1, .5, .5), p_d = (1, .5, 0) -> 1 + .25
    assert stats["flops"] == pytest.approx(1.25)
    assert stats["avg_query_nnz"] == 2.0 and stats["avg_doc_nnz"] == 1.5 and stats["postings"] == 3


def test_trec_run_round_trip(tmp_path):
    run = {"q1": [("d3", 12), ("d1", 12), ("d2", 0.5)], "q2": []}
    write_trec_run(tmp_path / "r.trec", run, tag="t")
    assert (tmp_path / "r.trec").read_text().splitlines()[0] == "q1 Q0 d3 1 12 t"
    assert read_trec_run(tmp_path / "r.trec") == {"q1": [("d3", 12.0), ("d1", 12.0), ("d2", 0.5)]}


def test_malformed_run_line_names_the_line(tmp_path):
    (tmp_path / "r.trec").write_text("q1 Q0 d1 1 3.0 t\nq1 d2 2\n")
    from splade_core.errors import SpladeError

    with pytest.raises(SpladeError, match=r"r.trec:2: expected 6 columns"):
        read_trec_run(tmp_path / "r.trec")


def test_summary_rows_take_their_lambdas_by_setting_id_not_from_labels_or_paths(tmp_path):
    from splade_core.evaluate.aggregate import summarize
    from splade_core.io import write_json

    metrics = {"MRR@10": 0.5, "nDCG@10": 0.6, "R@100": 0.7, "R@1000": 0.8}
    rows = {"tuned.json": "any-name", "pretrained.json": "pretrained"}
    for name, setting in rows.items():
        labels = {"dataset": "d", "model": "m", "setting": setting, "prune": "none", "lq": "9"}
        write_json(tmp_path / name, {"metrics": metrics, "labels": labels})
    files = [tmp_path / name for name in rows]
    frame = summarize(files, settings={"any-name": {"lq": 0.001, "ld": 0.0008}}).set_index("setting")
    assert (frame.loc["any-name", "lq"], frame.loc["any-name", "ld"]) == (0.001, 0.0008)
    assert frame["lq"].isna()["pretrained"]  # a label named lq is not read as a value


def test_a_streamed_run_evaluates_in_batches_as_the_whole_run(tmp_path):
    """1,200 queries (three batches) read a query at a time give the same figures."""
    from splade_core.evaluate import metrics

    rng = np.random.default_rng(0)
    run = {
        f"q{q}": [(f"d{d}", float(100 - rank)) for rank, d in enumerate(rng.permutation(300)[:120])]
        for q in range(1200)
    }
    qrels = {
        f"q{q}": {f"d{d}": int(rng.integers(1, 3)) for d in rng.choice(300, 3, replace=False)} for q in range(1300)
    }
    write_trec_run(tmp_path / "run.trec", run)
    assert metrics._QUERIES_PER_BATCH < 1200
    whole = evaluate_run(run, qrels)
    streamed = evaluate_run(iter_trec_run(tmp_path / "run.trec"), qrels)
    assert streamed == whole and whole["queries"] == 1300 and whole["queries_retrieved"] == 1200


def test_a_run_whose_queries_interleave_is_read_whole(tmp_path):
    (tmp_path / "run.trec").write_text("q1 Q0 a 1 3 t\nq2 Q0 z 1 3 t\nq1 Q0 c 2 2 t\n")
    with pytest.raises(UngroupedRun, match="query 'q1' are not contiguous"):
        list(iter_trec_run(tmp_path / "run.trec"))
    assert read_trec_run(tmp_path / "run.trec") == {"q1": [("a", 3.0), ("c", 2.0)], "q2": [("z", 3.0)]}


def test_per_query_file_holds_pytrec_evals_values_and_their_mean_is_the_metric(tmp_path):
    """Rankings of < 10 distinct scores (no cut-off, no tie): our per-query values are
    pytrec_eval's own; judged queries the run lacks are there as 0."""
    import pytrec_eval

    from splade_core.evaluate import DEFAULT_METRICS
    from splade_core.evaluate.metrics import read_per_query, write_per_query

    rng = np.random.default_rng(3)
    qrels = {f"q{q}": {f"d{d}": int(rng.integers(1, 3)) for d in rng.choice(40, 3, replace=False)} for q in range(30)}
    run = {f"q{q}": [(f"d{d}", 10.0 - rank) for rank, d in enumerate(rng.permutation(40)[:9])] for q in range(25)}
    result = evaluate_run(run, qrels)
    write_per_query(tmp_path / "perquery.tsv", result["per_query"])
    frame = read_per_query(tmp_path / "perquery.tsv")

    measures = {measure for measure, _ in DEFAULT_METRICS.values()}
    scored = {qid: dict(ranking) for qid, ranking in run.items()}
    reference = pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=1).evaluate(scored)
    assert sorted(frame.index) == sorted(qrels) and list(frame.columns) == list(DEFAULT_METRICS)
    for name, (measure, _) in DEFAULT_METRICS.items():
        assert frame.loc[list(reference), name].tolist() == [reference[qid][measure] for qid in reference]
        assert (frame.loc[[f"q{q}" for q in range(25, 30)], name] == 0).all()
        assert np.mean(frame[name].to_numpy()) == result["metrics"][name]  # exact: values round-trip


def test_per_query_file_is_long_tsv_with_a_header(tmp_path):
    from splade_core.evaluate.metrics import write_per_query

    write_per_query(tmp_path / "perquery.tsv", evaluate_run({"q1": [("b", 2.0), ("a", 1.0)]}, QRELS)["per_query"])
    lines = (tmp_path / "perquery.tsv").read_text().splitlines()
    ndcg = (1 / math.log2(3)) / (2 + 1 / math.log2(3))  # a (1) at rank 2; ideal: c (2), then a
    assert lines[:2] == ["query_id\tmetric\tvalue", "q1\tMRR@10\t0.5"] and lines[2].startswith("q1\tnDCG@10\t")
    assert float(lines[2].split("\t")[2]) == pytest.approx(ndcg)
    assert len(lines) == 1 + 3 * 4 and lines[-1] == "q3\tR@1000\t0.0"


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "not a per-query file"),
        ("qid\tmeasure\tvalue\n", "not a per-query file"),
        ("query_id\tmetric\tvalue\nq1\tnDCG@10\n", r"perquery.tsv:2: expected 3 tab-separated columns"),
        ("query_id\tmetric\tvalue\nq1\tnDCG@10\thigh\n", r"perquery.tsv:2: value 'high' is not a finite number"),
        ("query_id\tmetric\tvalue\nq1\tnDCG@10\t0.5\nq1\tnDCG@10\t0.5\n", "perquery.tsv:3: query 'q1' has a second"),
    ],
)
def test_a_malformed_per_query_file_is_one_error_naming_it(tmp_path, text, problem):
    from splade_core.errors import SpladeError
    from splade_core.evaluate.metrics import read_per_query

    (tmp_path / "perquery.tsv").write_text(text)
    with pytest.raises(SpladeError, match=problem):
        read_per_query(tmp_path / "perquery.tsv")


def test_evaluate_verb_writes_the_per_query_file_beside_the_metrics(tmp_path, tiny_beir, capsys):
    import json

    from splade_core.cli import main
    from splade_core.evaluate.metrics import read_per_query

    (tmp_path / "run.trec").write_text("1 Q0 31715818 1 9 t\n1 Q0 x 2 8 t\n3 Q0 x 1 9 t\n")  # other queries: none
    argv = ["evaluate", "--run", str(tmp_path / "run.trec"), "--collection", str(tiny_beir)]
    assert main([*argv, "--output", str(tmp_path / "m.json"), "--per-query", str(tmp_path / "perquery.tsv")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    frame = read_per_query(tmp_path / "perquery.tsv")
    assert len(frame) == metrics["queries"] > metrics["queries_retrieved"] == 2
    assert frame.loc["1", "MRR@10"] == 1.0 and (frame.drop(index="1")["MRR@10"] == 0).all()
    assert {name: np.mean(frame[name].to_numpy()) for name in frame} == metrics["metrics"]


def test_the_plots_show_the_rows_of_sparse_vectors_whatever_their_labels():
    import pandas as pd

    from splade_core.evaluate.aggregate import vector_rows

    frame = pd.DataFrame(
        [
            {"model": "bm25", "setting": "-", "prune": "none", "nDCG@10": 0.6, "postings": None, "flops": None},
            {"model": "bm25", "setting": "pretrained", "prune": "none", "nDCG@10": 0.7, "postings": 10, "flops": 1.0},
            {"model": "tiny", "setting": "pretrained", "prune": "term-5", "nDCG@10": 0.5, "postings": 5, "flops": None},
        ]
    )
    assert vector_rows(frame).index.tolist() == [1, 2]  # a model may be called bm25; BM25 runs have no vectors
    assert vector_rows(frame[["model", "setting", "prune", "nDCG@10"]]).index.tolist() == [0, 1, 2]


def test_every_number_of_a_column_has_the_same_decimals():
    from splade_core.evaluate.metrics import format_columns

    rows = [
        {"qps": 211.8, "nDCG@10": 0.5, "postings": 6003.0, "lq": 1e-5, "model": "m"},
        {"qps": 98.4308, "nDCG@10": 0.91234, "postings": 16, "lq": "", "model": "bm25"},
    ]
    cells = format_columns(rows, ["model", "lq", "nDCG@10", "postings", "qps"])
    assert cells == [
        {"model": "m", "lq": "0.000010", "nDCG@10": "0.5000", "postings": "6003", "qps": "211.8"},
        {"model": "bm25", "lq": "", "nDCG@10": "0.9123", "postings": "16", "qps": "98.4"},
    ]


def test_negative_grades_count_as_not_relevant_and_do_not_crash():
    from splade_core.evaluate.metrics import evaluate_run

    ranking = [("q1", [("d1", 2.0), ("d2", 1.0)])]
    negative = evaluate_run(ranking, {"q1": {"d1": -2, "d2": 1}})["metrics"]
    zero = evaluate_run(ranking, {"q1": {"d1": 0, "d2": 1}})["metrics"]
    assert negative == zero and negative["MRR@10"] == 0.5


def test_recall_against_the_exact_run_counts_tied_documents_as_found(tmp_path):
    from splade_core.evaluate.metrics import recall_against_exact
    from splade_core.retrieve.runs import paired_rankings

    exact = {"a": [("d1", 9.0), ("d2", 7.0), ("d3", 7.0)], "b": [("d4", 5.0)], "c": []}
    run = {"b": [("d8", 4.0)], "a": [("d1", 9.0), ("d3", 7.0), ("d9", 7.0)]}  # another query order
    write_trec_run(tmp_path / "exact.trec", exact)
    write_trec_run(tmp_path / "run.trec", run)
    recalls = recall_against_exact(paired_rankings(tmp_path / "run.trec", tmp_path / "exact.trec"), (2, 3))
    # a: at 2, d1 and d3 (tied with d2, the exact 2nd) reach 7; at 3, d9 ties too; b: nothing
    assert recalls == {"R@2 vs exact": (1.0 + 0.0) / 2, "R@3 vs exact": (1.0 + 0.0) / 2}
    write_trec_run(tmp_path / "empty.trec", {})
    assert recall_against_exact(paired_rankings(tmp_path / "empty.trec", tmp_path / "exact.trec"), (1,)) == {
        "R@1 vs exact": 0.0
    }


def test_approximate_rows_get_their_own_columns_marker_and_points(tmp_path):
    import pandas as pd

    from splade_core.evaluate.aggregate import row_kind, summarize, write_summary
    from splade_core.io import write_json

    metrics = {"MRR@10": 0.5, "nDCG@10": 0.6, "R@100": 0.7, "R@1000": 0.8}
    files = []
    for prune, search, latency in (("none", "exact", 2.0), ("none", "approx-95", 1.0), ("term-5", "exact", 1.5)):
        labels = {"dataset": "d", "model": "m", "setting": "pretrained", "prune": prune, "search": search}
        extra = {"vs_exact": {"R@10 vs exact": 0.96, "R@20 vs exact": 0.98}} if search != "exact" else {}
        attached = {"latency_p50_ms": latency}
        sparsity = {"flops": 1.0, "postings": 10}
        files.append(tmp_path / f"{prune}-{search}.json")
        write_json(
            files[-1], {"metrics": metrics, "labels": labels, "attached": attached, "sparsity": sparsity, **extra}
        )
    frame = summarize(files)
    columns = list(frame.columns)
    assert columns.index("search") == columns.index("prune") + 1
    assert columns[columns.index("R@1000") + 1 : columns.index("R@1000") + 3] == ["R@10 vs exact", "R@20 vs exact"]
    assert frame["R@10 vs exact"].isna().tolist() == [True, False, True]
    assert [row_kind(row) for _, row in frame.iterrows()] == ["full index", "approximate search", "static pruning"]
    paths = write_summary(frame, tmp_path / "summary")
    assert "approx-95" in paths["md"].read_text()
    assert pd.read_csv(paths["csv"])["search"].tolist() == ["exact", "approx-95", "exact"]
    assert paths["latency"].stat().st_size > 1000


def test_the_labels_of_a_crowded_plot_do_not_overlap():
    """Eight labelled points in a cluster (as a latency plot's Pareto front can be): every label is
    drawn, and no two of their boxes overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from splade_core.evaluate.aggregate import _place_labels

    fig, ax = plt.subplots(figsize=(6, 4.2))
    xs, ys = np.linspace(0.100, 0.104, 8), np.array([0.645, 0.640, 0.644, 0.641, 0.643, 0.642, 0.6405, 0.6435])
    ax.scatter([*xs, 0.2], [*ys, 0.5])  # one far point: the cluster is small on the axes
    _place_labels(ax, [(x, y, f"lq=0.0001_ld=0.0001 term-{i}") for i, (x, y) in enumerate(zip(xs, ys))])
    fig.canvas.draw()
    boxes = [Text.get_window_extent(text) for text in ax.texts]  # the text's box, without its leader line
    plt.close(fig)
    assert sorted(text.get_text() for text in ax.texts) == [f"lq=0.0001_ld=0.0001 term-{i}" for i in range(8)]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
