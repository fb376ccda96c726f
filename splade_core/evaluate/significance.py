"""Paired significance tests of a summary's rows against a baseline row.

As PyTerrier's `Experiment(baseline=..., correction="holm")` and ranx's `compare` report them:
for each metric, every row is tested against the baseline row of its dataset with a two-sided
paired test over the queries both judge (paired by query id), the p-values are Holm-corrected
across the rows compared (Holm 1979, via statsmodels), and the queries on which a row beats,
ties or trails the baseline are counted for one metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import SpladeError
from ..registry import SIGNIFICANCE_TESTS
from .metrics import DEFAULT_METRICS

RESAMPLES = 10_000  # of the randomization test, from a fixed seed: the same p-values every run
SEED = 0
_BATCH = 500  # resamples held at once (x queries): bounded memory on 7,000-query collections
MARK = "†"
TEST_NAMES = {
    "t-test": "two-sided paired t-test (scipy ttest_rel)",
    "permutation": f"two-sided paired randomization test ({RESAMPLES:,} resamples, seeded)",
}
OUTCOMES = ("wins", "ties", "losses")


def p_column(metric: str) -> str:
    return f"p_{metric}"


@dataclass(frozen=True)
class Significance:
    """How a summary's rows are compared with its baseline row.

    `baseline`: labels (as `splade evaluate --label` gave them) that one row of each dataset
    carries, e.g. {"model": "splade-tiny", "setting": "pretrained", "prune": "none"}; `test`:
    one of SIGNIFICANCE_TESTS; `alpha`: the level of the summary's markers; `metric`: the one
    whose wins, ties and losses are counted.
    """

    baseline: dict[str, str]
    test: str = "t-test"
    alpha: float = 0.05
    metric: str = "nDCG@10"

    def __post_init__(self):
        if not self.baseline:
            raise ValueError("the baseline is named by at least one label (e.g. model=bm25)")
        if self.test not in SIGNIFICANCE_TESTS:
            raise ValueError(f"test must be one of {list(SIGNIFICANCE_TESTS)}, not {self.test!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.metric not in DEFAULT_METRICS:
            raise ValueError(f"metric must be one of {list(DEFAULT_METRICS)}, not {self.metric!r}")

    def columns(self) -> list[str]:
        """The summary columns these tests fill, in order: whether the row is the baseline, the
        corrected p-value of each metric, the W/T/L counts, the number of queries paired."""
        counts = [f"{kind}_{self.metric}" for kind in OUTCOMES]
        return ["baseline", *map(p_column, DEFAULT_METRICS), *counts, "paired_queries"]

    def describe_baseline(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.baseline.items())

    def legend(self, frame: pd.DataFrame) -> str:
        """The lines under the Markdown table: test, correction, α, baseline, queries."""
        tested = frame["paired_queries"].dropna()
        if tested.empty:
            return f"No row shares queries with the baseline ({self.describe_baseline()}): nothing was tested."
        low, high = int(tested.min()), int(tested.max())
        queries = f"{low}" if low == high else f"{low}–{high}"
        return (
            f"{MARK} differs from the baseline ({self.describe_baseline()}) at α = {self.alpha:g}: "
            f"{TEST_NAMES[self.test]} per metric on {queries} queries paired by id, "
            f"Holm-corrected across the {len(tested)} rows compared.\n\n"
            f"W/T/L {self.metric}: queries on which the row scores above / equal to / below the baseline."
        )


def paired_p_value(row: np.ndarray, baseline: np.ndarray, test: str = "t-test") -> float:
    """Two-sided p-value of a paired test of `row` against `baseline` (same queries, same order).
    Identical values give 1 (no evidence of a difference; scipy's t-test would give NaN), fewer
    than two pairs NaN (not tested)."""
    import scipy.stats

    if len(row) != len(baseline):
        raise ValueError(f"paired values differ in length: {len(row)} and {len(baseline)}")
    if len(row) < 2:
        return float("nan")
    if np.array_equal(row, baseline):
        return 1.0
    if test == "t-test":
        return float(scipy.stats.ttest_rel(row, baseline).pvalue)
    result = scipy.stats.permutation_test(
        (row, baseline),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=RESAMPLES,
        batch=_BATCH,
        alternative="two-sided",
        rng=np.random.default_rng(SEED),
    )
    return float(result.pvalue)


def _mean_difference(row, baseline, axis):
    return np.mean(row - baseline, axis=axis)


def holm(p_values) -> np.ndarray:
    """Holm-corrected p-values (step-down, family-wise error), in the order given."""
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=float)
    return multipletests(p_values, method="holm")[1] if len(p_values) else p_values


def compare_to_baseline(
    per_query: list[pd.DataFrame], labels: list[dict[str, str]], significance: Significance
) -> pd.DataFrame:
    """The columns `significance.columns()` of each row, in the order given (`baseline` is
    True on the baseline rows).

    `per_query[i]` (`metrics.read_per_query`: query ids x metrics) and `labels[i]` belong to
    row i. Rows are grouped by their `dataset` label; in each group the one row carrying every
    baseline label is the baseline, and each other row is tested against it on the queries both
    files hold: a query missing from either side (or lacking the metric there) is left out of
    that pair, the same way for every metric's p-value and for the counts. A row sharing fewer
    than two queries with its baseline, every row of a dataset without a baseline row, and the
    baseline row itself get empty cells. P-values are Holm-corrected per dataset and metric
    across the rows tested. A baseline carried by no row, or by two rows of a dataset, is a
    SpladeError.
    """
    if len(per_query) != len(labels):
        raise ValueError(f"{len(per_query)} per-query tables but {len(labels)} label sets")
    out = pd.DataFrame(index=range(len(labels)), columns=significance.columns(), dtype=float)
    out["baseline"] = False
    for column in significance.columns()[1 + len(DEFAULT_METRICS) :]:
        out[column] = out[column].astype("Int64")
    groups: dict[str, list[int]] = {}
    for number, row_labels in enumerate(labels):
        groups.setdefault(row_labels.get("dataset", ""), []).append(number)
    with_baseline = 0
    for dataset, members in groups.items():
        matches = [i for i in members if all(labels[i].get(k) == v for k, v in significance.baseline.items())]
        where = f" of dataset {dataset!r}" if dataset else ""
        if len(matches) > 1:
            raise SpladeError(
                f"the baseline ({significance.describe_baseline()}) matches {len(matches)} rows{where}: "
                "name it by more labels"
            )
        if matches:
            with_baseline += 1
            out.loc[matches[0], "baseline"] = True
            _test_group(per_query, matches[0], [i for i in members if i != matches[0]], significance, out)
    if not with_baseline:
        raise SpladeError(f"no row carries the baseline labels ({significance.describe_baseline()})")
    return out


def _test_group(per_query, base: int, others: list[int], significance: Significance, out: pd.DataFrame) -> None:
    baseline = per_query[base]
    raw: dict[str, dict[int, float]] = {metric: {} for metric in DEFAULT_METRICS}
    for number in others:
        shared = baseline.index.intersection(per_query[number].index)
        if len(shared) < 2:
            continue
        out.loc[number, "paired_queries"] = len(shared)
        for metric in DEFAULT_METRICS:
            pairs = _pairs(per_query[number], baseline, shared, metric)
            if pairs is None:
                continue
            raw[metric][number] = paired_p_value(*pairs, significance.test)
            if metric == significance.metric:
                difference = pairs[0] - pairs[1]
                for kind, count in zip(OUTCOMES, (difference > 0, difference == 0, difference < 0)):
                    out.loc[number, f"{kind}_{metric}"] = int(count.sum())
    for metric, values in raw.items():
        tested = {number: p for number, p in values.items() if not np.isnan(p)}
        for number, corrected in zip(tested, holm(list(tested.values()))):
            out.loc[number, p_column(metric)] = corrected


def _pairs(row: pd.DataFrame, baseline: pd.DataFrame, shared: pd.Index, metric: str):
    """(row values, baseline values) of `metric` on the shared queries that have it on both
    sides, or None if either side lacks the metric."""
    if metric not in row or metric not in baseline:
        return None
    both = pd.concat([row.loc[shared, metric], baseline.loc[shared, metric]], axis=1).dropna()
    return both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
