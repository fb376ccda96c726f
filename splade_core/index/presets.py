"""Recall-targeted approximate search, calibrated per index.

A preset names a recall@10 target ("approx-95": 0.95, "approx-99": 0.99) rather than knob
values, because the knobs that reach a target differ from one collection to the next (a
setting tuned at 1 M documents loses recall at 8.8 M). `calibrate` derives them for one index:
it runs calibration queries exactly, then walks a ladder of ever more aggressive `bmp` settings
and keeps, per target, the last one whose mean recall@10, less three standard errors, still
reaches the target. Only knobs that keep scores exact are on the ladder — `bound_share` (fewer
query terms raise the block bounds), then `alpha` (blocks pruned against an inflated k-th
score) — so a preset may miss some of the true top documents, but the scores of those it
returns are true dot products.

Calibration queries should come from the queries the index will serve (the same model's query
vectors: a dev or training sample, or the query set itself — recall against exact search needs no
relevance judgments). Pseudo-queries cut from the documents (their heaviest terms) were tried
and rejected: on the synthetic benchmark at 200 k documents, approx-95 calibrated on them gave
the real queries a recall@10 anywhere from 0.86 to 0.99, depending on how many terms they kept.
The ladder is deterministic, so the same index and queries give the same presets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PRESETS: dict[str, float] = {"approx-95": 0.95, "approx-99": 0.99}  # name -> recall@10 target
PRESETS_KEY = "search_presets"  # where an index's metadata holds its calibrated presets
CALIBRATION_K = 10
# A setting passes when the calibration queries' mean recall@10 minus this many standard errors
# reaches the target, so that other queries from the same distribution still reach it although
# calibration saw only a sample of them. Two were too few on the synthetic benchmark (200 k
# documents, 200 calibration queries): taking the last passing step of the ladder favours
# settings whose sample mean came out high, and approx-99 then reached 0.988 on 1,000 held-out
# queries (three standard errors and 500 queries: 0.997).
STANDARD_ERRORS = 3.0
# Presets are calibrated at k = 10 and pay up to k = 300; past that a preset searches exactly
# (`exhaustive`, which reaches any target). CPU p50 ms of the presets' bmp settings (approx-95 /
# approx-99) against exhaustive on BP-ordered synthetic collections (`python
# benchmarks/default_algorithm.py`, the run cited at inverted_index.BMP_MAX_K): k = 300: 100k
# 0.152 / 0.164 vs 0.196, 200k 0.185 / 0.195 vs 0.325, 1M 0.327 / 0.414 vs 1.293; k = 1,000:
# 100k 0.433 / 0.444 vs 0.233, 200k 0.555 / 0.622 vs 0.367, 1M 1.483 / 1.591 vs 1.470 (and at
# 8.8 M, docs/scale.md: 15.14 / 16.47 vs 10.93).
PRESET_MAX_K = 300
BOUND_SHARES = (0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05)
ALPHAS = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)


@dataclass(frozen=True)
class Preset:
    """A calibrated preset: the `bmp` options that reach `target` on this index's calibration
    queries (`recall`: their mean recall@10 with these options)."""

    target: float
    algorithm: str  # "bmp", or "exhaustive" where no approximate setting pays (see calibrate)
    bound_share: float
    alpha: float
    recall: float
    queries: int

    @property
    def search_options(self) -> dict:
        return {"algorithm": self.algorithm, "bound_share": self.bound_share, "alpha": self.alpha}

    @classmethod
    def from_json(cls, value) -> Preset:
        """The preset stored as `value`, or ValueError saying what is wrong with it."""
        numbers = ("target", "bound_share", "alpha", "recall")
        if not isinstance(value, dict) or set(value) != set(cls.__dataclass_fields__):
            raise ValueError(f"a preset holds the fields {sorted(cls.__dataclass_fields__)}")
        for key in numbers:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0.0 < number <= 1.0:
                raise ValueError(f"a preset's {key} must be a number in (0, 1], not {number!r}")
        if value["algorithm"] not in ("bmp", "exhaustive"):
            raise ValueError(f"a preset's algorithm must be 'bmp' or 'exhaustive', not {value['algorithm']!r}")
        if value["algorithm"] == "exhaustive" and (value["bound_share"], value["alpha"]) != (1.0, 1.0):
            raise ValueError("an exhaustive preset is exact: bound_share and alpha 1")
        if isinstance(value["queries"], bool) or not isinstance(value["queries"], int) or value["queries"] < 0:
            raise ValueError(f"a preset's queries must be a count, not {value['queries']!r}")
        return cls(**value)

    def to_json(self) -> dict:
        return asdict(self)


def recall_at_k(exact: tuple, got: tuple) -> np.ndarray:
    """Per-query recall of `got` against `exact`, both (doc_idx, scores) of one top-k search,
    exact-scored: the share of the exact top-k reached, a returned document counting when its
    score reaches the exact k-th score (so tied documents are interchangeable). NaN for a query
    that matches no document."""
    matched = (exact[0] >= 0).sum(axis=1)
    kth = np.take_along_axis(exact[1], np.maximum(matched - 1, 0)[:, None], axis=1)
    reached = ((got[0] >= 0) & (got[1] >= kth)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(matched > 0, np.minimum(reached, matched) / matched, np.nan)


def calibrate(index, queries, *, targets: dict[str, float] | None = None, threads: int = 1) -> dict[str, Preset]:
    """The presets of `index` (an InvertedIndex) for `targets` (name -> recall@10 target,
    default PRESETS), from calibration `queries` (query rows, as `InvertedIndex.search` takes).
    Where bmp is not the index's fastest exact algorithm at k = 10 (fewer documents than
    BMP_MIN_DOCS, or documents in input order), approximate bmp is slower than exact search,
    so every preset is exact ("exhaustive")."""
    targets = dict(PRESETS if targets is None else targets)
    k = CALIBRATION_K
    exact = index.search(queries, k=k, algorithm="exhaustive", threads=threads)
    n_queries = len(exact[0])
    if not (exact[0] >= 0).any():
        raise ValueError("calibration needs queries that match some documents")
    if index.default_algorithm(k) != "bmp":
        return {name: Preset(target, "exhaustive", 1.0, 1.0, 1.0, n_queries) for name, target in targets.items()}

    def recall_of(bound_share: float, alpha: float) -> tuple[float, float]:
        """Mean recall@10 of the setting, and that mean less STANDARD_ERRORS standard errors."""
        got = index.search(queries, k=k, algorithm="bmp", threads=threads, bound_share=bound_share, alpha=alpha)
        per_query = recall_at_k(exact, got)
        per_query = per_query[np.isfinite(per_query)]
        error = per_query.std(ddof=1) / np.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
        return float(per_query.mean()), float(per_query.mean() - STANDARD_ERRORS * error)

    measured: dict[tuple[float, float], tuple[float, float]] = {(1.0, 1.0): (1.0, 1.0)}  # exact bmp

    def reaches(setting: tuple[float, float], target: float) -> bool:
        if setting not in measured:
            measured[setting] = recall_of(*setting)
        return measured[setting][1] >= target

    presets = {}
    for name, target in targets.items():
        share, alpha = 1.0, 1.0
        for candidate in BOUND_SHARES:  # down the bound shares while the target holds
            if not reaches((candidate, 1.0), target):
                break
            share = candidate
        for candidate in ALPHAS:  # then down alpha at the last share kept
            if not reaches((share, candidate), target):
                break
            alpha = candidate
        presets[name] = Preset(target, "bmp", share, alpha, round(measured[share, alpha][0], 4), n_queries)
    return presets
