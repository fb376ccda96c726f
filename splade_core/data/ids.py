"""What a document or query id may be: non-empty, without whitespace (TREC run files split their
lines on whitespace), and unique within its collection or vector file."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_WHITESPACE = re.compile(r"\s")


def id_problem(value: object) -> str | None:
    """Why `value` cannot be an id, or None if it can."""
    if not isinstance(value, str):
        return f"is not a string ({type(value).__name__})"
    if not value:
        return "is empty"
    if _WHITESPACE.search(value):
        return "contains whitespace"
    return None


def check_ids(ids: Sequence[str] | np.ndarray, kind: str = "row") -> None:
    """Raise ValueError naming the first bad or repeated id (vectorized: fine for 10M ids)."""
    values = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    if not values:
        return
    joined = "\x00".join(values)
    if "" in (values[0], values[-1]) or "\x00\x00" in joined or _WHITESPACE.search(joined):
        row, problem = next((i, p) for i, v in enumerate(values) if (p := id_problem(v)) is not None)
        raise ValueError(f"{kind} id {values[row]!r} (row {row + 1}) {problem}")
    if len(set(values)) == len(values):
        return
    first_row: dict[str, int] = {}
    for row, value in enumerate(values):
        if value in first_row:
            raise ValueError(f"{kind} id {value!r} appears twice (rows {first_row[value] + 1} and {row + 1})")
        first_row[value] = row
