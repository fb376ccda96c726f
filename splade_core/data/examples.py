"""Training-example files: a query, its positive(s), hard negatives and optional teacher scores.

Local example files (ids refer to the queries and documents of the collection spec):

- JSONL, one example per line::

      {"qid": "q1", "pos": ["d1"], "neg": ["d7", "d3"], "scores": {"d1": 12.5, "d7": 3.1}}

  ``neg`` and ``scores`` are optional; ``scores`` needs an entry for the positive and every
  negative that distillation may draw (scores of other documents are not kept). A first line
  ``{"format": "splade-core/training-examples", ...}`` (written by `write_examples`) describes
  how the file was made and is skipped on reading.
- TSV triples, the MS MARCO ``qidpidtriples`` layout: ``qid<TAB>pid+<TAB>pid-`` per line;
  lines of one query are merged into one example (queries in order of first appearance,
  positives and negatives in file order, a document once; a negative that is also one of the
  query's positives is dropped).
- TSV with teacher margins, the layout of Hofstätter et al.'s published ensemble scores:
  ``score+<TAB>score-<TAB>qid<TAB>pid+<TAB>pid-``; a (query, document) pair scored on several
  lines keeps its last score.

Files ending ``.gz`` are read decompressed. An example file is held as arrays (`Examples`), not
as Python objects: MS MARCO's 400 M-line ``qidpidtriples`` or a 40 M-line teacher file costs
its postings as int32 document numbers and float64 scores, plus one string per distinct id.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpladeError
from ..io import atomic_path, json_lines
from .ids import compact_ids, id_hashes, id_problem, id_text

FORMAT = "splade-core/training-examples"
VERSION = 1


@dataclass(frozen=True)
class TrainingExample:
    """One query with its positive documents, hard negatives and optional teacher scores."""

    query_id: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    scores: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"qid": self.query_id, "pos": list(self.positives), "neg": list(self.negatives)}
        if self.scores is not None:
            record["scores"] = self.scores
        return record


@dataclass(frozen=True)
class Examples:
    """Training examples as arrays. Example i is query `query_ids[i]` with positives
    `doc_ids[pos[pos_ptr[i]:pos_ptr[i+1]]]` and negatives `doc_ids[neg[neg_ptr[i]:neg_ptr[i+1]]]`;
    `doc_ids` is sorted and distinct. `pos_scores` / `neg_scores` align with `pos` / `neg`
    (NaN: no teacher score); `scored[i]` says whether example i came with scores at all."""

    query_ids: np.ndarray
    doc_ids: np.ndarray
    pos_ptr: np.ndarray
    pos: np.ndarray
    neg_ptr: np.ndarray
    neg: np.ndarray
    pos_scores: np.ndarray
    neg_scores: np.ndarray
    scored: np.ndarray

    def __len__(self) -> int:
        return len(self.query_ids)

    def __getitem__(self, index: int) -> TrainingExample:
        pos, neg = self.positive_slice(index), self.negative_slice(index)
        scores = None
        if self.scored[index]:
            pairs = zip((*self.pos[pos], *self.neg[neg]), (*self.pos_scores[pos], *self.neg_scores[neg]), strict=True)
            scores = {self.doc_id(d): float(s) for d, s in pairs if not np.isnan(s)}
        return TrainingExample(
            id_text(self.query_ids[index]),
            tuple(self.doc_id(d) for d in self.pos[pos]),
            tuple(self.doc_id(d) for d in self.neg[neg]),
            scores,
        )

    def __iter__(self) -> Iterator[TrainingExample]:
        return (self[i] for i in range(len(self)))

    def positive_slice(self, index: int) -> slice:
        return slice(int(self.pos_ptr[index]), int(self.pos_ptr[index + 1]))

    def negative_slice(self, index: int) -> slice:
        return slice(int(self.neg_ptr[index]), int(self.neg_ptr[index + 1]))

    def doc_id(self, doc: int) -> str:
        return id_text(self.doc_ids[doc])

    @property
    def negative_counts(self) -> np.ndarray:
        return np.diff(self.neg_ptr)

    def unscored(self) -> np.ndarray:
        """Whether each example lacks a teacher score for one of its positives or negatives."""
        missing = ~self.scored.copy()
        for ptr, scores in ((self.pos_ptr, self.pos_scores), (self.neg_ptr, self.neg_scores)):
            owner = np.repeat(np.arange(len(self)), np.diff(ptr))
            missing[owner[np.isnan(scores)]] = True
        return missing

    def take(self, rows: np.ndarray) -> Examples:
        """The examples `rows` (in that order); `doc_ids` is kept whole."""
        rows = np.asarray(rows, dtype=np.int64)
        pos_ptr, pos_at = _gather(self.pos_ptr, rows)
        neg_ptr, neg_at = _gather(self.neg_ptr, rows)
        return Examples(
            self.query_ids[rows], self.doc_ids, pos_ptr, self.pos[pos_at], neg_ptr, self.neg[neg_at],
            self.pos_scores[pos_at], self.neg_scores[neg_at], self.scored[rows],
        )  # fmt: skip

    @classmethod
    def of(cls, examples: Iterable[TrainingExample]) -> Examples:
        builder = _Builder()
        for example in examples:
            builder.add(example.query_id, example.positives, example.negatives, example.scores)
        return builder.build()


def _gather(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The offsets and the entry positions of the segments `rows` of a CSR-style pointer."""
    lengths = np.diff(ptr)[rows]
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    starts = np.repeat(ptr[rows] - new_ptr[:-1], lengths)
    return new_ptr, starts + np.arange(new_ptr[-1], dtype=np.int64)


class _Builder:
    """Examples added one at a time, document ids interned as they come."""

    def __init__(self):
        self.docs: dict[str, int] = {}
        self.query_ids: list[str] = []
        self.pos, self.neg = array("i"), array("i")
        self.pos_scores, self.neg_scores = array("d"), array("d")
        self.pos_ptr, self.neg_ptr = array("q", [0]), array("q", [0])
        self.scored = array("b")

    def add(self, query_id: str, positives, negatives, scores: dict[str, float] | None) -> None:
        docs = self.docs
        for ids, codes, values, ptr in (
            (positives, self.pos, self.pos_scores, self.pos_ptr),
            (negatives, self.neg, self.neg_scores, self.neg_ptr),
        ):
            codes.extend(docs.setdefault(d, len(docs)) for d in ids)
            values.extend(np.nan if scores is None else scores.get(d, np.nan) for d in ids)
            ptr.append(len(codes))
        self.query_ids.append(query_id)
        self.scored.append(scores is not None)

    def build(self) -> Examples:
        return _sorted_docs(
            np.array(list(self.docs), dtype=str),
            np.array(self.query_ids, dtype=str),
            (np.frombuffer(self.pos_ptr, np.int64), np.frombuffer(self.pos, np.int32)),
            (np.frombuffer(self.neg_ptr, np.int64), np.frombuffer(self.neg, np.int32)),
            np.frombuffer(self.pos_scores, np.float64),
            np.frombuffer(self.neg_scores, np.float64),
            np.frombuffer(self.scored, np.int8).astype(bool),
        )


def _sorted_docs(doc_ids, query_ids, positives, negatives, pos_scores, neg_scores, scored) -> Examples:
    """Examples whose document numbers index `doc_ids` (in first-seen order), renumbered so
    that `doc_ids` is sorted."""
    order = np.argsort(doc_ids, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return Examples(
        compact_ids(query_ids), compact_ids(doc_ids[order]),
        positives[0], rank[positives[1]], negatives[0], rank[negatives[1]], pos_scores, neg_scores, scored,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Reading and writing example files


def read_examples(path: str | os.PathLike) -> tuple[Examples, dict[str, Any]]:
    """Examples of a JSONL or TSV file (see module docstring) and its header (or {})."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such training-examples file")
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    try:
        if name.endswith(".jsonl") or name.endswith(".json"):
            return _read_jsonl_examples(path)
        if name.endswith(".tsv") or name.endswith(".txt"):
            return _read_tsv_examples(path), {}
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # unreadable, truncated gzip, not UTF-8
        raise SpladeError(f"{path}: cannot read ({exc})") from None
    raise SpladeError(f"{path}: training examples must be .jsonl or .tsv (optionally .gz)")


def write_examples(path: str | os.PathLike, examples: Iterable[TrainingExample], meta: dict[str, Any]) -> Path:
    """Write examples as JSONL with a header line, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": FORMAT, "version": VERSION, **meta}) + "\n")
        for example in examples:
            handle.write(json.dumps(example.to_json()) + "\n")
    return path


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _read_jsonl_examples(path: Path) -> tuple[Examples, dict[str, Any]]:
    builder = _Builder()
    header: dict[str, Any] = {}
    with _open_text(path) as handle:
        for number, record in json_lines(path, handle):
            if "format" in record:
                if record["format"] != FORMAT or record.get("version") != VERSION:
                    raise SpladeError(
                        f"{path}: format {record['format']!r} v{record.get('version')} is not {FORMAT} v{VERSION}"
                    )
                header = record
                continue
            builder.add(*_example_fields(record, f"{path}:{number}"))
    return builder.build(), header


def _example_fields(record: dict, where: str) -> tuple[str, list[str], list[str], dict[str, float] | None]:
    unknown = set(record) - {"qid", "pos", "neg", "scores"}
    if unknown:
        raise SpladeError(f"{where}: unknown keys {sorted(unknown)} (expected qid, pos, neg, scores)")
    if "qid" not in record or "pos" not in record:
        raise SpladeError(f"{where}: an example needs 'qid' and 'pos'")
    positives = record["pos"] if isinstance(record["pos"], list) else [record["pos"]]
    negatives = record.get("neg") or []
    if not positives:
        raise SpladeError(f"{where}: 'pos' is empty")
    scores = record.get("scores")
    if scores is not None:
        if not isinstance(scores, dict):
            raise SpladeError(f"{where}: 'scores' must map document ids to numbers")
        try:
            scores = {str(doc_id): float(value) for doc_id, value in scores.items()}
        except (TypeError, ValueError):
            raise SpladeError(f"{where}: 'scores' must map document ids to numbers") from None
    return str(record["qid"]), [str(p) for p in positives], [str(n) for n in negatives], scores


_TSV_BLOCK_BYTES = 1 << 24  # read at once: ~430,000 MS MARCO triples
_GATHER_FIELDS = 1 << 18  # fields copied into a fixed-width array at once
_GROUP_LINES = 1 << 22  # lines grouped per query at once (whole queries): ~60 bytes a line
_WHITESPACE_BYTES = np.zeros(256, dtype=bool)
_WHITESPACE_BYTES[[9, 10, 11, 12, 13, 32]] = True
_TSV_LAYOUTS = "expected 3 columns (qid, pid+, pid-) or 5 (score+, score-, qid, pid+, pid-)"


def _tsv_blocks(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(number of its first line, bytes) of blocks of whole lines of a (gzipped) file; the
    last line gets its newline if it lacks one."""
    first_line, carry = 1, b""
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as handle:
        while data := handle.read(_TSV_BLOCK_BYTES):
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                block = np.frombuffer(data, dtype=np.uint8, count=cut)
                yield first_line, block
                first_line += int(np.count_nonzero(block == 10))
    if carry:
        yield first_line, np.frombuffer(carry + b"\n", dtype=np.uint8)


class _IdTable:
    """Ids numbered in order of first appearance, across blocks: their 64-bit hashes
    (`ids.id_hashes`) looked up in a sorted table of the hashes seen so far (numpy's
    searchsorted; new ones numbered as they first appear and merged in), and the id of each
    number, so that two ids sharing a hash are caught rather than merged."""

    def __init__(self, kind: str):
        self.kind = kind
        self._hashes = np.zeros(0, dtype=np.uint64)  # every hash seen, sorted
        self._numbers = np.zeros(0, dtype=np.int64)  # the number of each
        self._parts: list[np.ndarray] = []
        self._ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._hashes)

    def numbers(self, ids: np.ndarray, hashes: np.ndarray, path: Path) -> np.ndarray:
        unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        at = np.searchsorted(self._hashes, unique)
        known = at < len(self._hashes)
        known[known] = self._hashes[at[known]] == unique[known]
        numbers = np.empty(len(unique), dtype=np.int64)
        numbers[known] = self._numbers[at[known]]
        new = np.flatnonzero(~known)
        if len(new):  # numbered in the order they first appear; their first field holds the id
            order = new[np.argsort(first[new], kind="stable")]
            numbers[order] = len(self) + np.arange(len(order))
            self._parts.append(ids[first[order]])
            self._ids = None
            self._hashes = np.insert(self._hashes, at[new], unique[new])
            self._numbers = np.insert(self._numbers, at[new], numbers[new])
        numbers = numbers[inverse.reshape(-1)]
        if not (ids == self.ids[numbers]).all():  # two ids, one hash: about 1 in 10^6 for MS MARCO
            raise SpladeError(f"{path}: two {self.kind} ids share a 64-bit hash; rename one")
        return numbers

    @property
    def ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = _concat_ids(self._parts)
            self._parts = [self._ids]
        return self._ids


def _parse_tsv_block(
    path: Path, first_line: int, buf: np.ndarray, tables: dict[str, _IdTable]
) -> tuple[np.ndarray, ...]:
    """(query, positive, negative) numbers of the lines of a block that are not blank (in `tables`),
    and the positions and (score+, score-) of the lines that carry scores."""
    sep = np.flatnonzero((buf == 9) | (buf == 10))
    newline = buf[sep] == 10
    line_ends = np.flatnonzero(newline)  # the last field of each line
    start = np.concatenate([[0], sep[:-1] + 1])
    end = sep.copy()
    carriage = newline & (end > start) & (buf[np.maximum(end - 1, 0)] == 13)
    end[carriage] -= 1  # CRLF line ends
    fields = np.diff(np.concatenate([[-1], line_ends]))
    first_field = line_ends - fields + 1
    lengths = end - start
    # Blank lines (nothing but whitespace) are skipped: only lines whose every field is empty
    # or starts with whitespace need a closer look.
    maybe_blank = np.logical_and.reduceat((lengths == 0) | _WHITESPACE_BYTES[buf[start]], first_field)
    blank = np.zeros(len(line_ends), dtype=bool)
    for line in np.flatnonzero(maybe_blank):
        blank[line] = bool(_WHITESPACE_BYTES[buf[start[first_field[line]] : sep[line_ends[line]]]].all())
    keep = np.flatnonzero(~blank)
    numbers, fields, first_field = first_line + keep, fields[keep], first_field[keep]
    if ((fields != 3) & (fields != 5)).any():
        at = int(np.argmax((fields != 3) & (fields != 5)))
        raise SpladeError(f"{path}:{numbers[at]}: {_TSV_LAYOUTS}, got {int(fields[at])} columns")
    five = fields == 5
    id_fields = (first_field + np.where(five, 2, 0))[:, None] + np.arange(3)
    score_fields = first_field[five][:, None] + np.arange(2)
    text = np.concatenate([buf, np.zeros(int(lengths.max(initial=0)) + 1, dtype=np.uint8)])
    text[sep] = 0
    text[end[carriage]] = 0
    for columns in (id_fields, score_fields):
        empty = (lengths[columns] == 0).any(axis=1)
        if empty.any():
            line = numbers[int(np.argmax(empty))] if columns is id_fields else numbers[five][int(np.argmax(empty))]
            raise SpladeError(f"{path}:{line}: {_TSV_LAYOUTS}, got an empty field")
    scores = _field_strings(text, start, lengths, score_fields.ravel())
    try:
        scores = scores.astype(np.float64).reshape(-1, 2)
    except ValueError:
        bad = next(i for i, value in enumerate(scores) if not _is_float(value))
        raise SpladeError(f"{path}:{numbers[five][bad // 2]}: expected score+, score-, qid, pid+, pid-") from None
    numbered = np.empty(id_fields.shape, dtype=np.int32)
    for kind, columns in (("query", [0]), ("document", [1, 2])):
        flat = id_fields[:, columns].ravel()
        for begin in range(0, len(flat), _GATHER_FIELDS):
            ids = _field_strings(text, start, lengths, flat[begin : begin + _GATHER_FIELDS])
            try:
                hashes = id_hashes(ids, kind)
            except ValueError:
                bad = next(i for i, value in enumerate(ids) if id_problem(id_text(value)))
                line, value = numbers[(begin + bad) // len(columns)], id_text(ids[bad])
                raise SpladeError(f"{path}:{line}: {kind} id {value!r} {id_problem(value)}") from None
            rows = slice(begin // len(columns), (begin + len(ids)) // len(columns))
            numbered[rows, columns] = tables[kind].numbers(ids, hashes, path).reshape(-1, len(columns))
    return numbered[:, 0], numbered[:, 1], numbered[:, 2], np.flatnonzero(five), scores


def _field_strings(text: np.ndarray, start: np.ndarray, lengths: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """Fields of a block as a fixed-width array ('S' when ASCII, else decoded as UTF-8: 'U');
    `text` is the block with every separator (and CR of CRLF) set to NUL."""
    width = max(int(lengths[fields].max(initial=0)), 1)
    windows = np.lib.stride_tricks.sliding_window_view(text, width)
    matrix = windows[np.minimum(start[fields], len(windows) - 1)]
    matrix *= np.minimum.accumulate(matrix != 0, axis=1)  # a field ends at its first NUL
    strings = matrix.view(f"S{width}").reshape(len(fields))
    if (matrix >= 128).any():
        strings = np.char.decode(strings, "utf-8")  # raises UnicodeDecodeError on bad bytes
    return strings


def _concat_ids(parts: list[np.ndarray]) -> np.ndarray:
    if any(part.dtype.kind == "U" for part in parts):
        parts = [part if part.dtype.kind == "U" else part.astype(str) for part in parts]
    return np.concatenate(parts) if parts else np.zeros(0, dtype="S1")


def _is_float(value: bytes | str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_tsv_examples(path: Path) -> Examples:
    """MS MARCO id triples (3 columns) or teacher-margin files (5 columns), merged per query.

    Parsed with numpy a block at a time, ids numbered as they come: a line costs 12 bytes of
    int32 numbers (36 with scores) until the lines are grouped per query, a run of queries at a
    time. All told, a 40 M-line teacher file (1.4 GB, 8.8 M distinct passages) peaks at 3.5 GB
    (benchmarks/training_data.py)."""
    tables = {"query": _IdTable("query"), "document": _IdTable("document")}
    columns: dict[str, list[np.ndarray]] = {"query": [], "pos": [], "neg": [], "line": [], "scores": []}
    lines = 0
    for first_line, buf in _tsv_blocks(path):
        query, pos, neg, scored, scores = _parse_tsv_block(path, first_line, buf, tables)
        for key, value in zip(columns, (query, pos, neg, scored + lines, scores), strict=True):
            columns[key].append(value)
        lines += len(query)
    empty = {"query": np.int32, "pos": np.int32, "neg": np.int32, "line": np.int64, "scores": np.float64}
    arrays = {}
    for key in empty:  # one column at a time, its blocks dropped as it is joined
        parts = columns.pop(key)
        arrays[key] = np.concatenate(parts) if parts else np.zeros(0, empty[key])
        del parts
    arrays["scores"] = arrays["scores"].reshape(-1, 2)
    return _group_lines(tables["query"].ids, tables["document"].ids, arrays)


def _group_lines(query_ids: np.ndarray, doc_ids: np.ndarray, lines: dict[str, np.ndarray]) -> Examples:
    """Examples of parsed lines, taken from `lines` (which is emptied): ``query``, ``pos``,
    ``neg`` numbers per line (queries numbered in order of first appearance); ``scores``
    (score+, score-) of the lines ``line`` that carry them. The lines are put in query order
    (stably: a query's lines keep their file order) and grouped a run of whole queries at a
    time (`_GROUP_LINES` lines), so the hash table that numbers distinct (query, document) pairs
    stays small whatever the file's size."""
    query, n_lines, n_queries = lines["query"], len(lines["query"]), len(query_ids)
    index = np.int32 if 2 * n_lines < 1 << 31 else np.int64
    score_row = np.full(n_lines, -1, dtype=index)
    score_row[lines["line"]] = np.arange(len(lines["line"]), dtype=index)
    scored = np.zeros(n_queries, dtype=bool)
    scored[query[lines["line"]]] = True
    order = np.argsort(query, kind="stable").astype(index)
    starts = np.searchsorted(query[order], np.arange(n_queries + 1))  # query q: order[starts[q]:starts[q + 1]]
    parts: dict[str, list[np.ndarray]] = {
        key: [] for key in ("pos_count", "pos", "pos_score", "neg_count", "neg", "neg_score")
    }
    first = 0
    while first < n_queries:
        stop = max(int(np.searchsorted(starts, starts[first] + _GROUP_LINES, side="right")) - 1, first + 1)
        stop = min(stop, n_queries)
        picked = order[starts[first] : starts[stop]]
        chunk = _group_queries(
            query[picked] - first,
            lines["pos"][picked],
            lines["neg"][picked],
            score_row[picked],
            lines["scores"],
            stop - first,
        )
        for key, value in chunk.items():
            parts[key].append(value)
        first = stop
    lines.clear()  # the lines are grouped: free them before the examples are assembled
    joined = {key: np.concatenate(value) if value else np.zeros(0) for key, value in parts.items()}

    def pointer(counts: np.ndarray) -> np.ndarray:
        ptr = np.zeros(n_queries + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return ptr

    return _sorted_docs(
        doc_ids,
        query_ids,
        (pointer(joined["pos_count"]), joined["pos"].astype(np.int32)),
        (pointer(joined["neg_count"]), joined["neg"].astype(np.int32)),
        joined["pos_score"].astype(np.float64),
        joined["neg_score"].astype(np.float64),
        scored,
    )


def _group_queries(query, pos, neg, score_row, scores, n_queries: int) -> dict[str, np.ndarray]:
    """Positives and negatives (with their scores) of queries 0..`n_queries`-1, from their
    lines in file order: `query`, `pos`, `neg` numbers and `score_row`, the row of `scores`
    holding the line's (score+, score-), or -1. Distinct (query, document) pairs are numbered
    once, over both roles, by pandas' hash table; a pair's score is from the last entry that
    scored it (a line's + before its -); a negative that is also a positive is dropped."""
    import pandas as pd

    n_docs = np.int64(max(int(max(pos.max(initial=0), neg.max(initial=0))) + 1, 1))
    keys = np.empty(2 * len(query), dtype=np.int64)  # entry 2i: line i's (query, +), 2i + 1: its (query, -)
    keys[0::2] = query * n_docs + pos
    keys[1::2] = query * n_docs + neg
    pair, pair_keys = pd.factorize(keys)
    del keys
    has = np.flatnonzero(score_row >= 0)
    entries = (2 * has[:, None] + np.arange(2)).ravel()
    last = np.full(len(pair_keys), -1, dtype=np.int64)
    np.maximum.at(last, pair[entries], np.arange(len(entries)))
    pair_scores = np.append(scores[score_row[has]].ravel(), np.nan)[last]  # -1, never scored: NaN

    def by_query(pairs: np.ndarray) -> np.ndarray:
        """Pairs (in order of first appearance in their role) grouped by query, stably."""
        return pairs[np.argsort(pair_keys[pairs] // n_docs, kind="stable")]

    positives = pd.unique(pair[0::2])
    is_positive = np.zeros(len(pair_keys), dtype=bool)
    is_positive[positives] = True
    negatives = pd.unique(pair[1::2])
    positives, negatives = by_query(positives), by_query(negatives[~is_positive[negatives]])
    out = {}
    for role, pairs in (("pos", positives), ("neg", negatives)):
        role_keys = pair_keys[pairs]
        out[f"{role}_count"] = np.bincount(role_keys // n_docs, minlength=n_queries)
        out[role] = (role_keys % n_docs).astype(np.int32)
        out[f"{role}_score"] = pair_scores[pairs]
    return out


def as_examples(examples: Examples | Iterable[TrainingExample]) -> Examples:
    return examples if isinstance(examples, Examples) else Examples.of(examples)
