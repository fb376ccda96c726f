"""Recall-targeted approximate search, calibrated per index.

A preset names a recall@10 target ("approx-95": 0.95, "approx-99": 0.99) rather than knob
values, because the knobs that reach a target differ from one collection to the next (a
setting tuned at 1 M documents loses recall at 8.8 M). `calibrate` derives them for one index:
it runs calibration queries exactly, then, per target and per approximate algorithm the index
offers, walks a ladder of ever more aggressive settings and keeps the last one whose mean
recall@10, less three standard errors, still reaches the target:

* `bmp` (on a reordered index where exact bmp is the default at k = 10): `bound_share` (fewer
  query terms raise the block bounds), then `alpha` (blocks pruned against an inflated k-th
  score);
* `clustered` (on an index with clustered sections, `InvertedIndex.build_clusters`): for each
  `heap_factor` of HEAP_FACTORS, the smallest `query_cut` of QUERY_CUTS that reaches the target.

Where both ladders apply, the settings that reach a target (or a stricter one) are timed on the
calibration queries, taking turns, and the fastest becomes the preset (docs/scale.md compares
them by collection size). Every setting keeps scores exact, so a preset may miss some of the true
top documents, but the scores of those it returns are true dot products.

Calibration queries should come from the queries the index will serve (the same model's query
vectors: a dev or training sample, or the query set itself — recall against exact search needs no
relevance judgments). Pseudo-queries cut from the documents (their heaviest terms) were tried
and rejected: on the synthetic benchmark at 200 k documents, approx-95 calibrated on them gave
the real queries a recall@10 anywhere from 0.86 to 0.99, depending on how many terms they kept.
The ladders are deterministic, so an index with the bmp ladder alone always gets the same presets
from the same queries; a choice between settings is by time, so it may differ between runs where
two are about as fast.
"""

from __future__ import annotations

import time
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
QUERY_CUTS = (*range(2, 17), 18, 20, 25, 30, 40, 50, 70, 100)
HEAP_FACTORS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
TIMING_ROUNDS = 3  # a setting's time: the best of this many searches of all calibration queries
APPROXIMATE_ALGORITHMS = ("bmp", "clustered")


@dataclass(frozen=True)
class Preset:
    """A calibrated preset: the search options that reach `target` on this index's calibration
    queries (`recall`: their mean recall@10 with these options). `algorithm` "bmp" uses
    bound_share and alpha, "clustered" query_cut and heap_factor, "exhaustive" (where no ladder
    applies: approximate search would not pay) none."""

    target: float
    algorithm: str
    bound_share: float
    alpha: float
    query_cut: int
    heap_factor: float
    recall: float
    queries: int

    @property
    def search_options(self) -> dict:
        if self.algorithm == "bmp":
            return {"algorithm": "bmp", "bound_share": self.bound_share, "alpha": self.alpha}
        if self.algorithm == "clustered":
            return {"algorithm": "clustered", "query_cut": self.query_cut, "heap_factor": self.heap_factor}
        return {"algorithm": self.algorithm}

    @classmethod
    def from_json(cls, value) -> Preset:
        """The preset stored as `value`, or ValueError saying what is wrong with it."""
        numbers = ("target", "bound_share", "alpha", "heap_factor", "recall")
        if not isinstance(value, dict) or set(value) != set(cls.__dataclass_fields__):
            raise ValueError(f"a preset holds the fields {sorted(cls.__dataclass_fields__)}")
        for key in numbers:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0.0 < number <= 1.0:
                raise ValueError(f"a preset's {key} must be a number in (0, 1], not {number!r}")
        algorithm = value["algorithm"]
        if algorithm not in ("exhaustive", *APPROXIMATE_ALGORITHMS):
            raise ValueError(f"a preset's algorithm must be 'bmp', 'clustered' or 'exhaustive', not {algorithm!r}")
        for key in ("query_cut", "queries"):
            if isinstance(value[key], bool) or not isinstance(value[key], int) or value[key] < 0:
                raise ValueError(f"a preset's {key} must be a count, not {value[key]!r}")
        if algorithm != "bmp" and (value["bound_share"], value["alpha"]) != (1.0, 1.0):
            raise ValueError(f"a {algorithm} preset has bound_share and alpha 1")
        if (algorithm == "clustered") != (value["query_cut"] > 0) or (
            algorithm != "clustered" and value["heap_factor"] != 1.0
        ):
            raise ValueError("a preset has a query_cut (and a heap_factor other than 1) if and only if it is clustered")
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


def calibrate(
    index, queries, *, targets: dict[str, float] | None = None, threads: int = 1, clustered: bool = True
) -> dict[str, Preset]:
    """The presets of `index` (an InvertedIndex) for `targets` (name -> recall@10 target,
    default PRESETS), from calibration `queries` (query rows, as `InvertedIndex.search` takes).
    Candidates: the bmp ladder where bmp is the index's fastest exact algorithm at k = 10 (a
    reordered index of at least BMP_MIN_DOCS documents; elsewhere approximate bmp is slower than
    exact search), the clustered ladder where the index has clustered sections (and `clustered`
    is true); each target
    gets the fastest setting that reaches it (timed where there are several), or exact search
    ("exhaustive") where no ladder applies."""
    targets = dict(PRESETS if targets is None else targets)
    k = CALIBRATION_K
    exact = index.search(queries, k=k, algorithm="exhaustive", threads=threads)
    n_queries = len(exact[0])
    if not (exact[0] >= 0).any():
        raise ValueError("calibration needs queries that match some documents")
    measured: dict[tuple, tuple[float, float]] = {}

    def reaches(options: tuple, target: float) -> bool:
        """Whether the mean recall@10 of the setting, less STANDARD_ERRORS standard errors, reaches target."""
        if options not in measured:
            got = index.search(queries, k=k, threads=threads, **dict(options))
            per_query = recall_at_k(exact, got)
            per_query = per_query[np.isfinite(per_query)]
            error = per_query.std(ddof=1) / np.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
            measured[options] = (float(per_query.mean()), float(per_query.mean() - STANDARD_ERRORS * error))
        return measured[options][1] >= target

    ladders = [
        ladder
        for ladder, applies in (
            (_bmp_settings, index.default_algorithm(k) == "bmp"),
            (_clustered_settings, clustered and index.has_clusters),
        )
        if applies
    ]
    passing = {name: [c for ladder in ladders for c in ladder(reaches, target)] for name, target in targets.items()}
    # A setting that reaches a target reaches every lower one: where the settings are timed (both
    # ladders apply), a target's candidates include those of the stricter targets, so that a
    # looser preset is never timed slower than a stricter one.
    candidates = {
        name: list(
            dict.fromkeys(
                c
                for other, t in targets.items()
                if t >= target and (len(ladders) > 1 or other == name)
                for c in passing[other]
            )
        )
        for name, target in targets.items()
    }
    seconds = _timed_in_turns(index, queries, {c for found in candidates.values() if len(found) > 1 for c in found}, k)

    presets = {}
    for name, target in targets.items():
        if not candidates[name]:
            presets[name] = Preset(target, "exhaustive", 1.0, 1.0, 0, 1.0, 1.0, n_queries)
            continue
        best = min(candidates[name], key=lambda c: seconds.get(c, 0.0))  # ties: the first
        options = dict(best)
        presets[name] = Preset(
            target,
            options["algorithm"],
            options.get("bound_share", 1.0),
            options.get("alpha", 1.0),
            options.get("query_cut", 0),
            options.get("heap_factor", 1.0),
            round(measured[best][0], 4) if best in measured else 1.0,
            n_queries,
        )
    return presets


def _timed_in_turns(index, queries, settings: set[tuple], k: int) -> dict[tuple, float]:
    """Per setting, the best of TIMING_ROUNDS single-threaded searches of all `queries`; the
    settings take turns within each round, so that a drift in the machine's speed between rounds
    does not favour the settings timed in the faster ones."""
    order = sorted(settings)
    best = dict.fromkeys(order, float("inf"))
    for _ in range(TIMING_ROUNDS):
        for options in order:
            began = time.perf_counter()
            index.search(queries, k=k, threads=1, **dict(options))
            best[options] = min(best[options], time.perf_counter() - began)
    return best


def _bmp_settings(reaches, target: float) -> list[tuple]:
    """The last bmp setting of the ladder that reaches target: down the bound shares while the
    target holds, then down alpha at the last share kept."""

    def setting(share: float, alpha: float) -> tuple:
        return (("algorithm", "bmp"), ("alpha", alpha), ("bound_share", share))

    share, alpha = 1.0, 1.0
    for candidate in BOUND_SHARES:
        if not reaches(setting(candidate, 1.0), target):
            break
        share = candidate
    for candidate in ALPHAS:
        if not reaches(setting(share, candidate), target):
            break
        alpha = candidate
    return [setting(share, alpha)]


def _clustered_settings(reaches, target: float) -> list[tuple]:
    """Per heap factor, the clustered setting with the smallest query cut that reaches target."""
    settings = []
    for heap_factor in HEAP_FACTORS:
        for query_cut in QUERY_CUTS:
            setting = (("algorithm", "clustered"), ("heap_factor", heap_factor), ("query_cut", query_cut))
            if reaches(setting, target):
                settings.append(setting)
                break
    return settings
