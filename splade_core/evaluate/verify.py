"""Expected figures of a study, verified: a dataset's summary.csv against a YAML file of expected
values, row by row, each figure within its absolute tolerance (as Anserini's regressions
`--verify` a run against the figures their YAML documents ship).

The file (`report.expected` of a study config; checked against `SCHEMA`)::

    tolerance:            # absolute, per figure: |got - expected| <= tolerance passes
      nDCG@10: 0.0001
      postings: 0
    datasets:
      scifact:            # one row per (model, setting, prune), labelled as in summary.csv
        - {model: splade-tiny, setting: pretrained, prune: none, nDCG@10: 0.643594, postings: 1280245}

Figures are compared at `DIGITS` decimals, the precision `write_expected` keeps.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from ..errors import SpladeError
from ..io import atomic_path, read_yaml
from ..registry import EXACT_SEARCHES
from .metrics import DEFAULT_METRICS, format_table

LABELS = ("model", "setting", "prune")
# Effectiveness and the deterministic sparsity figures; never latency or timings.
FIGURES = (*DEFAULT_METRICS, "flops", "avg_query_nnz", "avg_doc_nnz", "postings")
INTEGER_FIGURES = ("postings",)
DIGITS = 6
# Tolerances of a new file: exact up to rounding (a rerun on the same machine and versions).
DEFAULT_TOLERANCE = {name: (0 if name in INTEGER_FIGURES else 1e-4) for name in FIGURES}

_NUMBER = {"type": "number"}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "expected figures of a study (splade verify)",
    "type": "object",
    "additionalProperties": False,
    "required": ["tolerance", "datasets"],
    "properties": {
        "tolerance": {
            "type": "object",
            "description": "absolute tolerance per figure",
            "propertyNames": {"enum": list(FIGURES)},
            "additionalProperties": {"type": "number", "minimum": 0},
        },
        "datasets": {
            "type": "object",
            "minProperties": 1,
            "description": "per dataset (a key of the study's datasets), its expected rows",
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(LABELS),
                    "properties": {
                        **{label: {"type": "string", "minLength": 1} for label in LABELS},
                        **{name: _NUMBER for name in FIGURES},
                    },
                },
            },
        },
    },
}

Row = tuple[str, str, str]


def row_name(row: Row) -> str:
    return ", ".join(f"{label}={value}" for label, value in zip(LABELS, row))


@dataclass(frozen=True)
class Check:
    """One expected figure of one row (`figure` None: the whole row is missing)."""

    row: Row
    figure: str | None
    expected: float | None = None
    got: float | None = None
    tolerance: float | None = None

    @property
    def status(self) -> str:
        if self.figure is None:
            return "missing row"
        if self.got is None or not math.isfinite(self.got):
            return "MISMATCH"
        within = abs(round(self.got, DIGITS) - self.expected) <= self.tolerance + 1e-12
        return "ok" if within else "MISMATCH"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.figure is None:
            return f"{row_name(self.row)}: expected row missing from the summary"
        got = "nothing (no such column or an empty cell)" if self.got is None else _number(self.got)
        return (
            f"{row_name(self.row)}: {self.figure} expected {_number(self.expected)} got {got} "
            f"(tolerance {_number(self.tolerance)})"
        )


@dataclass
class Verification:
    """The checks of one dataset's summary, in the expected file's order."""

    dataset: str
    expected_file: str
    checks: list[Check] = field(default_factory=list)
    unexpected: list[Row] = field(default_factory=list)  # summary rows the file does not name

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def table(self) -> str:
        """A Markdown table, one line per check (a missing row: one line), then a count."""
        records = []
        for check in self.checks:
            diff = None if check.got is None or check.expected is None else round(check.got, DIGITS) - check.expected
            records.append(
                {
                    **dict(zip(LABELS, check.row)),
                    "figure": check.figure or "",
                    "expected": _number(check.expected),
                    "got": _number(check.got),
                    "diff": _difference(diff),
                    "tolerance": _number(check.tolerance),
                    "status": check.status,
                }
            )
        columns = [*LABELS, "figure", "expected", "got", "diff", "tolerance", "status"]
        lines = [f"# {self.dataset}: summary against {self.expected_file}", "", format_table(records, columns), ""]
        lines.append(self.verdict())
        if self.unexpected:
            names = "; ".join(row_name(row) for row in self.unexpected)
            lines.append(f"{len(self.unexpected)} summary rows have no expected values (not checked): {names}")
        return "\n".join(lines) + "\n"

    def verdict(self) -> str:
        if self.ok:
            return f"{self.dataset}: all {len(self.checks)} checks pass"
        failures = self.failures
        return f"{self.dataset}: {len(failures)} of {len(self.checks)} checks fail: " + "; ".join(
            check.describe() for check in failures
        )


def _difference(diff: float | None) -> str:
    if diff is None or not math.isfinite(diff):
        return ""
    return "0" if abs(diff) < 0.5 * 10**-DIGITS else f"{diff:+.{DIGITS}f}"


def _number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
        return str(int(value))
    return f"{value:.{DIGITS}f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def check_expected(payload, where: str = "expected values") -> dict:
    """`payload` if it satisfies SCHEMA and names a tolerance for every figure it expects, each
    row once; else SpladeError with one line naming the first wrong key."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(payload))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise SpladeError(f"{where}: {key}: {error.message}")
    tolerance = payload["tolerance"]
    for dataset, rows in payload["datasets"].items():
        seen = set()
        for number, row in enumerate(rows):
            labels = tuple(row[label] for label in LABELS)
            if labels in seen:
                raise SpladeError(f"{where}: datasets.{dataset}.{number}: {row_name(labels)} is listed twice")
            seen.add(labels)
            untolerated = [name for name in row if name in FIGURES and name not in tolerance]
            if untolerated:
                raise SpladeError(f"{where}: datasets.{dataset}.{number}: no tolerance for {untolerated[0]}")
    return payload


def read_expected(path: str | os.PathLike) -> dict:
    """The expected-values file at `path`, checked (`check_expected`)."""
    return check_expected(read_yaml(path), str(path))


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """The exact-search rows of a summary.csv of `splade aggregate`, its label columns as
    strings. Rows of approximate presets (search other than "exact") are not verified: an
    expected file names a row by model, setting and pruning, which they share with the exact row."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype={label: str for label in (*LABELS, "dataset")})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpladeError(f"{path}: not a CSV file ({_first_line(exc)})") from None
    missing = [label for label in LABELS if label not in frame.columns]
    if missing:
        raise SpladeError(f"{path}: not a summary of `splade aggregate` (no column {missing[0]!r})")
    frame[list(LABELS)] = frame[list(LABELS)].fillna("")
    if "search" in frame.columns:
        frame = frame[frame["search"].fillna("").astype(str).isin(EXACT_SEARCHES)].reset_index(drop=True)
    return frame


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def summary_dataset(frame: pd.DataFrame, expected: dict, dataset: str | None = None) -> str:
    """The dataset to verify: `dataset`, else the summary's `dataset` column, else the file's
    only dataset."""
    if dataset is None and "dataset" in frame.columns:
        names = sorted(set(frame["dataset"].dropna()))
        if len(names) > 1:
            raise SpladeError(f"the summary holds several datasets ({', '.join(names)}): name one with --dataset")
        dataset = names[0] if names else None
    if dataset is None and len(expected["datasets"]) == 1:
        dataset = next(iter(expected["datasets"]))
    if dataset is None:
        raise SpladeError("the summary names no dataset: name one with --dataset")
    return dataset


def verify_summary(
    summary: pd.DataFrame | str | os.PathLike,
    expected: dict | str | os.PathLike,
    dataset: str | None = None,
) -> Verification:
    """Every expected row of `dataset` (default: the summary's) found in `summary` by its labels,
    and each of its figures compared within the figure's tolerance."""
    expected_file = "expected values" if isinstance(expected, dict) else str(expected)
    expected = check_expected(expected) if isinstance(expected, dict) else read_expected(expected)
    frame = summary if isinstance(summary, pd.DataFrame) else read_summary(summary)
    dataset = summary_dataset(frame, expected, dataset)
    if dataset not in expected["datasets"]:
        known = ", ".join(expected["datasets"])
        raise SpladeError(f"{expected_file} has no expected values for dataset {dataset!r} (it has: {known})")
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"].isna() | (frame["dataset"] == dataset)]
    by_row = {tuple(record[label] for label in LABELS): record for record in frame.to_dict("records")}
    verification = Verification(dataset, expected_file)
    named = set()
    for entry in expected["datasets"][dataset]:
        row = tuple(entry[label] for label in LABELS)
        named.add(row)
        found = by_row.get(row)
        if found is None:
            verification.checks.append(Check(row, None))
            continue
        for name in FIGURES:
            if name in entry:
                got = found.get(name)
                got = None if got is None or pd.isna(got) else float(got)
                verification.checks.append(Check(row, name, entry[name], got, expected["tolerance"][name]))
    verification.unexpected = [row for row in by_row if row not in named]
    return verification


def expected_rows(frame: pd.DataFrame, dataset: str | None = None) -> list[dict]:
    """The rows of a summary as expected values: labels and every figure it has, at DIGITS
    decimals (counts as integers)."""
    if dataset is not None and "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    rows = []
    for record in frame.to_dict("records"):
        row = {label: record[label] for label in LABELS}
        for name in FIGURES:
            value = record.get(name)
            if value is None or pd.isna(value):
                continue
            row[name] = int(value) if name in INTEGER_FIGURES else round(float(value), DIGITS)
        rows.append(row)
    return rows


class _Row(dict):
    """A row of expected values: written on one line."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Row, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def write_expected(path: str | os.PathLike, frame: pd.DataFrame, dataset: str, header: str = "") -> dict[str, object]:
    """Write `dataset`'s rows of the summary `frame` into the expected-values file at `path`
    (replacing that dataset's rows; other datasets, tolerances and the file's leading comment
    lines kept; a new file gets DEFAULT_TOLERANCE and `header`). Returns what it wrote."""
    path = Path(path)
    rows = expected_rows(frame, dataset)
    if not rows:
        raise SpladeError(f"the summary has no rows of dataset {dataset!r}")
    if path.is_file():
        payload, text = read_expected(path), path.read_text()
        comments = _leading_comments(text)
        header = "\n".join(comments) + "\n" if comments else ""
    else:
        payload = {"tolerance": dict(DEFAULT_TOLERANCE), "datasets": {}}
        header = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    payload["datasets"][dataset] = rows
    check_expected(payload, str(path))
    document = {
        "tolerance": payload["tolerance"],
        "datasets": {name: [_Row(row) for row in entries] for name, entries in payload["datasets"].items()},
    }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10**6, allow_unicode=True)
    with atomic_path(path) as tmp:
        tmp.write_text(header + body)
    return payload


def _leading_comments(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines
