"""What a document or query id may be: non-empty, without whitespace (TREC run files split their
lines on whitespace), control characters (a NUL would cut it short) or lone surrogates (no
valid Unicode), and unique within its collection or vector file.

`check_ids` works on the code points of a numpy string array and on 64-bit row hashes, so that
8.8 M MS MARCO ids cost seconds and a few hundred MB, not a Python set of strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_IN_ID = re.compile("[\\s\x00-\x1f\x7f\ud800-\udfff]")
# Every code point an id may not hold below U+3002 (whitespace, the highest of which is U+3000,
# and control characters), as a lookup table; NUL is padding in numpy's arrays and checked apart.
_IS_BAD = np.array([code != 0 and bool(_NOT_IN_ID.match(chr(code))) for code in range(0x3002)])
_ROWS = 1 << 20  # ids checked at once


def id_problem(value: object) -> str | None:
    """Why `value` cannot be an id, or None if it can."""
    if not isinstance(value, str):
        return f"is not a string ({type(value).__name__})"
    if not value:
        return "is empty"
    if _WHITESPACE.search(value):
        return "contains whitespace"
    if _CONTROL.search(value):
        return "contains a control character"
    if _SURROGATE.search(value):
        return "contains a lone surrogate (no valid Unicode)"
    return None


def first_id_problem(values: Sequence) -> tuple[object, str] | None:
    """(value, why) of the first value that cannot be an id, or None: one regex over all of
    them when they pass (the common case), `id_problem` one by one only when one fails."""
    try:
        if all(values) and not _NOT_IN_ID.search("".join(values)):
            return None
    except TypeError:  # not all strings: id_problem names the first
        pass
    return next(((value, problem) for value in values if (problem := id_problem(value)) is not None), None)


def check_ids(ids: Sequence[str] | np.ndarray, kind: str = "row") -> None:
    """Raise ValueError naming the first bad id, or the first that repeats an earlier one."""
    if isinstance(ids, np.ndarray) and ids.dtype.kind in "SU":
        array = ids
    else:
        array = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids), dtype=str)
    check_unique(id_hashes(array, kind), lambda row: id_text(array[row]), kind)


def compact_ids(array: np.ndarray) -> np.ndarray:
    """The ids in the narrowest numpy string type that holds them: 1-byte characters ('S')
    when all are ASCII, as MS MARCO's and BEIR's are (a quarter of 'U'), and only as wide as
    the longest id (numpy's str() of integers is 21 characters wide)."""
    if array.dtype.kind not in "SU" or not array.size or array.itemsize == 0:
        return array
    unit = np.uint8 if array.dtype.kind == "S" else np.uint32
    codes = np.ascontiguousarray(array).view(unit).reshape(len(array), -1)
    used = np.flatnonzero((codes != 0).any(axis=0))  # columns holding a character of some id
    width = int(used[-1]) + 1 if len(used) else 1
    codes = codes[:, :width]
    if unit is np.uint32 and int(codes.max(initial=0)) >= 128:
        return np.ascontiguousarray(codes).view(f"<U{width}").reshape(len(array))
    return codes.astype(np.uint8).view(f"S{width}").reshape(len(array))


def id_text(value) -> str:
    """An element of an id array ('U' or compact 'S') as a str."""
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def id_hashes(array: np.ndarray, kind: str = "row", first_row: int = 0) -> np.ndarray:
    """64-bit hashes of a block of ids (a 1-d numpy string array, 'U' or compact 'S'), after
    checking that each is non-empty and has no whitespace; `first_row` numbers the block's rows
    in messages. The hash of an id depends neither on the array's string width nor on its kind,
    so blocks can be hashed apart."""
    if not len(array):
        return np.zeros(0, dtype=np.uint64)
    unit = np.uint8 if array.dtype.kind == "S" else np.uint32
    codes = np.ascontiguousarray(array).view(unit).reshape(len(array), -1)
    hashes = np.zeros(len(array), dtype=np.uint64)
    for begin in range(0, len(array), _ROWS):
        block = codes[begin : begin + _ROWS]
        points = block if unit is np.uint8 else np.minimum(block, len(_IS_BAD) - 1)
        bad = (block[:, 0] == 0) | _IS_BAD[points].any(axis=1)
        bad |= ((block[:, :-1] == 0) & (block[:, 1:] != 0)).any(axis=1)  # a NUL inside
        if unit is np.uint32:
            bad |= ((block >= 0xD800) & (block <= 0xDFFF)).any(axis=1)
        if bad.any():
            row = begin + int(np.argmax(bad))
            problem = id_problem(id_text(array[row])) or "starts with a NUL character"
            raise ValueError(f"{kind} id {id_text(array[row])!r} (row {first_row + row + 1}) {problem}")
        value = np.zeros(len(block), dtype=np.uint64)
        for column in block.T:  # a polynomial hash of the code points, wrapping at 2^64
            value = np.where(column != 0, value * np.uint64(1_000_003) + column, value)
        hashes[begin : begin + _ROWS] = value
    return hashes


def check_unique(hashes: np.ndarray, id_at: Callable[[int], str], kind: str = "row") -> None:
    """Raise ValueError naming the first id that repeats an earlier one, given their hashes."""
    repeat = first_repeat(hashes, id_at)
    if repeat is not None:
        first, second = repeat
        raise ValueError(f"{kind} id {id_at(second)!r} appears twice (rows {first + 1} and {second + 1})")


def first_repeat(hashes: np.ndarray, id_at: Callable[[int], str]) -> tuple[int, int] | None:
    """(row of its first occurrence, row) of the earliest id that repeats an earlier one, given
    one hash per row; rows whose hashes are equal are compared exactly with `id_at`."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    equal_next = ordered[1:] == ordered[:-1]
    if not equal_next.any():
        return None
    in_run = np.zeros(len(ordered), dtype=bool)  # sorted positions that share their hash
    in_run[1:] |= equal_next
    in_run[:-1] |= equal_next
    best: tuple[int, int] | None = None
    seen: dict[tuple[int, str], int] = {}  # equal hashes: equal ids, or (rarely) a collision
    for position in np.flatnonzero(in_run):  # each run in ascending rows (the sort is stable)
        row = int(order[position])
        key = (int(ordered[position]), id_at(row))
        if key in seen:
            if best is None or row < best[1]:
                best = (seen[key], row)
        else:
            seen[key] = row
    return best
