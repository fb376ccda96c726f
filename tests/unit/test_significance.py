"""Paired tests of summary rows against a baseline row, and how the summary shows them."""

import numpy as np
import pandas as pd
import pytest

from splade_core.cli import main
from splade_core.errors import SpladeError
from splade_core.evaluate import DEFAULT_METRICS
from splade_core.evaluate.aggregate import summarize, write_summary
from splade_core.evaluate.metrics import read_per_query, write_per_query
from splade_core.evaluate.significance import Significance, compare_to_baseline, holm, paired_p_value

QUERIES = [f"q{i}" for i in range(100)]
BASELINE = Significance({"model": "base"})


def per_query(values: dict[str, np.ndarray], queries=QUERIES) -> dict[str, dict[str, float]]:
    """Per-query values with `values[metric]` for each query (every metric the same if one)."""
    return {
        qid: {m: float(values.get(m, values["nDCG@10"])[i]) for m in DEFAULT_METRICS} for i, qid in enumerate(queries)
    }


@pytest.fixture
def rows(tmp_path):
    """A baseline, a row 0.2 better per query (with noise), an identical one and a slightly
    noisier one; as `splade evaluate` writes them: metrics.json + perquery.tsv."""
    from splade_core.io import write_json

    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.7, len(QUERIES))
    systems = {
        "base": base,
        "better": np.clip(base + 0.2 + rng.normal(0, 0.05, len(QUERIES)), 0, 1),
        "same": base.copy(),
        "noisy": np.clip(base + rng.normal(0, 0.01, len(QUERIES)), 0, 1),
    }
    files = []
    for model, values in systems.items():
        values = per_query({"nDCG@10": values})
        means = {m: float(np.mean([q[m] for q in values.values()])) for m in DEFAULT_METRICS}
        labels = {"dataset": "d", "model": model, "setting": "pretrained", "prune": "none"}
        write_json(tmp_path / f"{model}.json", {"metrics": means, "labels": labels})
        write_per_query(tmp_path / f"{model}.tsv", values)
        files.append((tmp_path / f"{model}.json", tmp_path / f"{model}.tsv"))
    return files


def frame_of(rows, significance=BASELINE) -> pd.DataFrame:
    metrics, per_query_files = zip(*rows)
    return summarize(list(metrics), list(per_query_files), significance).set_index("model")


@pytest.mark.parametrize("test", ["t-test", "permutation"])
def test_a_clearly_better_row_differs_and_an_identical_one_does_not(rows, test):
    frame = frame_of(rows, Significance({"model": "base"}, test=test))
    assert (frame.loc["better", [f"p_{m}" for m in DEFAULT_METRICS]] < 0.05).all()
    assert frame.loc["better", ["wins_nDCG@10", "ties_nDCG@10", "losses_nDCG@10"]].tolist() == [100, 0, 0]
    assert (frame.loc["same", [f"p_{m}" for m in DEFAULT_METRICS]] == 1.0).all()
    assert frame.loc["same", ["wins_nDCG@10", "ties_nDCG@10", "losses_nDCG@10"]].tolist() == [0, 100, 0]
    assert frame.loc["base", [f"p_{m}" for m in DEFAULT_METRICS]].isna().all() and frame.loc["base", "baseline"]
    assert frame["paired_queries"].isna()["base"] and frame["paired_queries"].drop("base").tolist() == [100] * 3


def test_summary_keeps_its_columns_and_adds_the_tests_after_them(rows):
    from splade_core.evaluate.aggregate import COLUMNS

    frame = summarize(*map(list, zip(*rows)), BASELINE)
    shown = [c for c in ["dataset", *COLUMNS] if c in frame.columns]
    assert list(frame.columns) == [*shown, *BASELINE.columns()]
    assert BASELINE.columns() == [
        "baseline",
        "p_MRR@10",
        "p_nDCG@10",
        "p_R@100",
        "p_R@1000",
        "wins_nDCG@10",
        "ties_nDCG@10",
        "losses_nDCG@10",
        "paired_queries",
    ]
    assert summarize(list(zip(*rows))[0]).columns.tolist() == shown  # no per-query files: as before


def test_holm_matches_a_hand_computed_example_and_never_lowers_a_p_value(rows):
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1, then made monotone: 0.04, 0.09, 0.09, 0.2
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    frame = frame_of(rows)
    values = {tsv.stem: read_per_query(tsv)["nDCG@10"].to_numpy() for _, tsv in rows}
    others = ["better", "same", "noisy"]
    raw = [paired_p_value(values[model], values["base"]) for model in others]
    corrected = frame.loc[others, "p_nDCG@10"].to_numpy()
    assert (corrected >= raw).all() and corrected.tolist() == pytest.approx(holm(raw).tolist())
    assert raw[2] < corrected[2] < 1  # the noisy row's p-value is raised, not clipped away


def test_queries_are_paired_by_id_and_unshared_ones_left_out():
    rng = np.random.default_rng(1)
    base = pd.DataFrame({m: rng.uniform(size=100) for m in DEFAULT_METRICS}, index=QUERIES)
    shuffled = base.sample(frac=1, random_state=2).iloc[:80]  # same values, other order, 20 fewer queries
    labels = [{"model": "base"}, {"model": "other"}]
    out = compare_to_baseline([base, shuffled], labels, BASELINE)
    assert out.loc[1, "paired_queries"] == 80 and out.loc[1, "ties_nDCG@10"] == 80
    assert out.loc[1, "p_nDCG@10"] == 1.0


def test_rows_of_another_dataset_are_not_tested():
    table = pd.DataFrame({m: np.linspace(0, 1, 100) for m in DEFAULT_METRICS}, index=QUERIES)
    labels = [{"dataset": "a", "model": "base"}, {"dataset": "a", "model": "x"}, {"dataset": "b", "model": "x"}]
    out = compare_to_baseline([table, table, table], labels, BASELINE)
    assert out["baseline"].tolist() == [True, False, False]
    assert out.loc[1, "p_nDCG@10"] == 1.0 and np.isnan(out.loc[2, "p_nDCG@10"])


def test_a_baseline_no_row_or_two_rows_carry_is_an_error():
    table = pd.DataFrame({"nDCG@10": [0.1, 0.2]}, index=["q1", "q2"])
    with pytest.raises(SpladeError, match=r"no row carries the baseline labels \(model=bm25\)"):
        compare_to_baseline([table], [{"model": "base"}], Significance({"model": "bm25"}))
    labels = [{"dataset": "d", "model": "base", "prune": p} for p in ("none", "term-10")]
    with pytest.raises(SpladeError, match=r"matches 2 rows of dataset 'd': name it by more labels"):
        compare_to_baseline([table, table], labels, BASELINE)


def test_summary_markdown_marks_significant_values_and_says_how(rows, tmp_path):
    frame = summarize(*map(list, zip(*rows)), BASELINE)
    text = write_summary(frame, tmp_path / "out", "nDCG@10", BASELINE)["md"].read_text()
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "W/T/L nDCG@10 |" in lines["model"]
    assert lines["better"].count("†") == 4 and lines["better"].endswith("| 100/0/0 |")
    assert "†" not in lines["same"] and lines["same"].endswith("| 0/100/0 |")
    assert "†" not in lines["base"] and lines["base"].endswith("| baseline |")
    legend = text.split("\n\n")[-2:]
    assert legend[0].startswith("† differs from the baseline (model=base) at α = 0.05: two-sided paired t-test")
    assert "on 100 queries paired by id, Holm-corrected across the 3 rows compared." in legend[0]
    assert legend[1].startswith("W/T/L nDCG@10: queries on which the row scores above / equal to / below")


def test_aggregate_verb_tests_rows_and_names_a_bad_per_query_file(rows, tmp_path, capsys):
    metrics, per_query_files = (list(map(str, files)) for files in zip(*rows))
    argv = ["aggregate", *metrics, "--output-dir", str(tmp_path / "out"), "--baseline", "model=base"]
    assert main([*argv, "--per-query", *per_query_files]) == 0
    assert "† differs from the baseline (model=base)" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "out" / "summary.csv")["p_nDCG@10"].notna().sum() == 3

    (tmp_path / "broken.tsv").write_text("query_id\tmetric\tvalue\nq1\tnDCG@10\n")
    for broken in (str(tmp_path / "broken.tsv"), str(tmp_path / "missing.tsv")):
        assert main([*argv, "--per-query", *per_query_files[:-1], broken]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"splade aggregate: error: {broken}")
    assert main([*argv, "--per-query", *per_query_files[:-1]]) == 2
    assert "4 metrics files but 3 per-query files" in capsys.readouterr().err
    assert main(argv) == 2
    assert "--per-query and --baseline go together" in capsys.readouterr().err


def test_the_baseline_row_comes_first_then_the_rows_in_the_order_given(rows):
    metrics, per_query_files = zip(*rows[::-1])  # noisy, same, better, base
    frame = summarize(list(metrics), list(per_query_files), BASELINE)
    assert frame["model"].tolist() == ["base", "noisy", "same", "better"]
