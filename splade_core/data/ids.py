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
    import pandas as pd

    repeated = pd.Index(values).duplicated()
    if repeated.any():
        second = int(np.argmax(repeated))
        first = values.index(values[second])
        raise ValueError(f"{kind} id {values[second]!r} appears twice (rows {first + 1} and {second + 1})")
