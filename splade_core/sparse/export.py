"""Quantized sparse vectors → other engines' input formats: Anserini and CIFF.

Anserini (Lucene) impact indexes, as in its SPLADE regressions (`IndexCollection -collection
JsonVectorCollection -impact -pretokenized`; `SearchCollection -topicReader TsvString -impact
-pretokenized`):

- documents: JSON lines ``{"id": doc_id, "contents": "", "vector": {token: impact}}``;
- queries: TSV lines ``query_id<TAB>token token token ...``, each token repeated `impact`
  times (a pretokenized query's term weight is its count); or JSON lines
  ``{"id": query_id, "vector": {token: impact}}`` for readers that take vectors.

CIFF, the Common Index File Format (Lin et al., "Supporting Interoperability Between
Open-Source Search Engines with the Common Index File Format", SIGIR 2020;
github.com/osirrc/ciff, CommonIndexFileFormat.proto): one file of length-delimited protobuf
messages — a Header, one PostingsList per term (postings as document-index gaps, tf = the
impact), then one DocRecord per document. PISA (ciff2pisa) and BMP (ciff2bmp) read it. The
protobuf wire format is written here directly (varints, no protobuf dependency).

Token strings come from a vocabulary list (e.g. a Hugging Face tokenizer's
``convert_ids_to_tokens(range(vocab_size))``), indexed by term id. Every writer goes through
`atomic_path`; a path ending in ``.gz`` is gzip-compressed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO

import numpy as np
import scipy.sparse as sp

from ..io import atomic_path
from .vectors import SparseVectors

CIFF_VERSION = 1
QUERY_FORMATS = ("tsv", "jsonl")
# Postings per chunk when encoding CIFF: bounds the temporary arrays (~40 bytes a posting).
_CIFF_CHUNK_POSTINGS = 1 << 22


def write_anserini_docs(vectors: SparseVectors, vocab: Sequence[str], path: str | os.PathLike) -> None:
    """Write documents as Anserini JsonVectorCollection lines (for -impact -pretokenized)."""
    tokens = _token_array(vectors, vocab)
    with _open_text(path) as out:
        for doc_id, terms, impacts in _rows(vectors, tokens):
            out.write(json.dumps({"id": doc_id, "contents": "", "vector": dict(zip(terms, impacts))}))
            out.write("\n")


def write_anserini_queries(
    vectors: SparseVectors, vocab: Sequence[str], path: str | os.PathLike, format: str = "tsv"
) -> None:
    """Write queries for Anserini's -impact -pretokenized search.

    "tsv": ``query_id<TAB>tokens``, each token repeated impact times (topic reader TsvString,
    or TsvInt for integer ids); "jsonl": ``{"id": query_id, "vector": {token: impact}}``.
    """
    if format not in QUERY_FORMATS:
        raise ValueError(f"query format must be one of {QUERY_FORMATS}, not {format!r}")
    tokens = _token_array(vectors, vocab)
    if format == "tsv":
        bad = [t for t in np.unique(tokens[vectors.indices]) if not t or any(c.isspace() for c in t)]
        if bad:
            raise ValueError(f"tokens {bad[:5]} are empty or hold whitespace: they cannot go into a TSV query")
        bad_ids = [i for i in vectors.ids if "\t" in i or "\n" in i]
        if bad_ids:
            raise ValueError(f"query ids {bad_ids[:5]} hold a tab or newline")
    with _open_text(path) as out:
        for query_id, terms, impacts in _rows(vectors, tokens):
            if format == "tsv":
                out.write(f"{query_id}\t{' '.join(t for t, w in zip(terms, impacts) for _ in range(w))}\n")
            else:
                out.write(json.dumps({"id": query_id, "vector": dict(zip(terms, impacts))}))
                out.write("\n")


def write_ciff(
    vectors: SparseVectors,
    path: str | os.PathLike,
    vocab: Sequence[str] | None = None,
    description: str = "",
) -> None:
    """Write quantized vectors as a CIFF index (tf = impact, doc length = sum of impacts).

    Documents are numbered by row (docid i = row i, collection_docid = ids[i]); terms are
    written in lexicographic order of their strings (as Lucene exports them), only those
    with at least one posting; `vocab=None` names term i by its decimal id.
    """
    _require_impacts(vectors)
    tokens = _token_array(vectors, vocab) if vocab is not None else None
    csc = sp.csc_array(vectors.to_csr())  # postings grouped by term, document indices ascending
    csc.sort_indices()
    term_ptr = csc.indptr.astype(np.int64)
    doc_idx = csc.indices.astype(np.int64)
    impacts = csc.data.astype(np.int64)
    first = np.zeros(len(doc_idx), dtype=bool)
    first[term_ptr[:-1][np.diff(term_ptr) > 0]] = True
    if len(doc_idx) and np.any(np.diff(doc_idx)[~first[1:]] == 0):
        raise ValueError("a document holds the same term twice; sum duplicates first")
    terms = np.flatnonzero(np.diff(term_ptr) > 0)
    names = [tokens[t] if tokens is not None else str(t) for t in terms]
    order = sorted(range(len(terms)), key=names.__getitem__)
    if any(names[a] == names[b] for a, b in zip(order, order[1:])):
        raise ValueError("two terms in use share a token string")
    impact_sums = np.concatenate([[0], np.cumsum(vectors.data, dtype=np.int64)])
    doc_lengths = impact_sums[vectors.indptr[1:]] - impact_sums[vectors.indptr[:-1]]
    total_terms = int(doc_lengths.sum())
    header = b"".join(
        [
            _field_varint(1, CIFF_VERSION),
            _field_varint(2, len(terms)),
            _field_varint(3, vectors.n_rows),
            _field_varint(4, len(terms)),
            _field_varint(5, vectors.n_rows),
            _field_varint(6, total_terms),
            _field_double(7, total_terms / vectors.n_rows if vectors.n_rows else 0.0),
            _field_bytes(8, description.encode()),
        ]
    )
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, _maybe_gzip(raw, path) as out:
        out.write(_varint(len(header)) + header)
        ordered_names = [names[i] for i in order]
        for chunk in _chunks([terms[i] for i in order], term_ptr):
            _write_postings_lists(out, chunk, ordered_names, term_ptr, doc_idx, impacts)
        buffer = io.BytesIO()
        for row in range(vectors.n_rows):
            record = (
                _field_varint(1, row)
                + _field_bytes(2, str(vectors.ids[row]).encode())
                + _field_varint(3, int(doc_lengths[row]))
            )
            buffer.write(_varint(len(record)) + record)
            if buffer.tell() > 1 << 20:
                out.write(buffer.getvalue())
                buffer = io.BytesIO()
        out.write(buffer.getvalue())


def _write_postings_lists(out, chunk, ordered_names, term_ptr, doc_idx, impacts) -> None:
    """Encode the PostingsList messages of a chunk of (position in term order, term id) pairs."""
    positions = np.concatenate([np.arange(term_ptr[t], term_ptr[t + 1]) for _, t in chunk])
    lengths = np.array([term_ptr[t + 1] - term_ptr[t] for _, t in chunk], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    docs = doc_idx[positions]
    gaps = docs.copy()
    gaps[1:] -= docs[:-1]
    gaps[starts[:-1]] = docs[starts[:-1]]
    tfs = impacts[positions]
    # One Posting message: [0x08 varint(gap)] if gap, [0x10 varint(tf)] if tf; framed as
    # field 4 of PostingsList: 0x22, length (< 128 bytes always), message.
    has_gap, has_tf = gaps > 0, tfs > 0
    gap_sizes, tf_sizes = _varint_sizes(gaps[has_gap]), _varint_sizes(tfs[has_tf])
    gap_bytes = np.zeros(len(gaps), dtype=np.int64)
    gap_bytes[has_gap] = 1 + gap_sizes
    tf_bytes = np.zeros(len(tfs), dtype=np.int64)
    tf_bytes[has_tf] = 1 + tf_sizes
    message = gap_bytes + tf_bytes
    offsets = np.zeros(len(message) + 1, dtype=np.int64)
    np.cumsum(2 + message, out=offsets[1:])
    encoded = np.empty(int(offsets[-1]), dtype=np.uint8)
    at = offsets[:-1]
    encoded[at] = 0x22
    encoded[at + 1] = message
    gap_at = at[has_gap] + 2
    encoded[gap_at] = 0x08
    _put_varints(encoded, gap_at + 1, gaps[has_gap], gap_sizes)
    tf_at = (at + 2 + gap_bytes)[has_tf]
    encoded[tf_at] = 0x10
    _put_varints(encoded, tf_at + 1, tfs[has_tf], tf_sizes)
    cfs = np.add.reduceat(tfs, starts[:-1]) if len(tfs) else np.zeros(0, np.int64)
    for j, (position_in_order, _) in enumerate(chunk):
        body_start, body_end = offsets[starts[j]], offsets[starts[j + 1]]
        head = (
            _field_bytes(1, ordered_names[position_in_order].encode())
            + _field_varint(2, int(lengths[j]))
            + _field_varint(3, int(cfs[j]))
        )
        out.write(_varint(len(head) + int(body_end - body_start)) + head)
        out.write(encoded[body_start:body_end].tobytes())


def _chunks(ordered_terms, term_ptr) -> Iterator[list[tuple[int, int]]]:
    chunk, size = [], 0
    for position, term in enumerate(ordered_terms):
        chunk.append((position, int(term)))
        size += int(term_ptr[term + 1] - term_ptr[term])
        if size >= _CIFF_CHUNK_POSTINGS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes in the base-128 varint of each (non-negative int64) value."""
    sizes = np.ones(len(values), dtype=np.int64)
    top, shift = (int(values.max()) if len(values) else 0), 7
    while top >> shift:
        sizes += values >= (1 << shift)
        shift += 7
    return sizes


def _put_varints(out: np.ndarray, at: np.ndarray, values: np.ndarray, sizes: np.ndarray) -> None:
    """Write the varint of each value at out[at[i]:at[i] + sizes[i]] (low 7-bit groups first)."""
    for byte in range(int(sizes.max()) if len(sizes) else 0):
        if byte:
            live = sizes > byte
            at, values, sizes = at[live], values[live], sizes[live]
        group = (values >> (7 * byte)) & 0x7F
        out[at + byte] = group | ((sizes > byte + 1) << 7)


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"cannot encode a negative varint ({value})")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    """A varint field (wire type 0); proto3 leaves a zero value out."""
    return _varint(field << 3) + _varint(value) if value else b""


def _field_bytes(field: int, value: bytes) -> bytes:
    """A length-delimited field (wire type 2); proto3 leaves an empty value out."""
    return _varint(field << 3 | 2) + _varint(len(value)) + value if value else b""


def _field_double(field: int, value: float) -> bytes:
    """A double field (wire type 1, 8 bytes little-endian)."""
    return _varint(field << 3 | 1) + struct.pack("<d", value) if value else b""


def _require_impacts(vectors: SparseVectors) -> None:
    if not vectors.is_quantized:
        raise ValueError("vectors hold float weights: quantize them to integer impacts first")


def _token_array(vectors: SparseVectors, vocab: Sequence[str]) -> np.ndarray:
    _require_impacts(vectors)
    tokens = np.asarray(list(vocab), dtype=object)
    if vectors.nnz and int(vectors.indices.max()) >= len(tokens):
        raise ValueError(f"vocabulary has {len(tokens)} tokens but term id {int(vectors.indices.max())} is used")
    used = np.unique(vectors.indices)
    if len(set(tokens[used].tolist())) != len(used):
        raise ValueError("two term ids in use map to the same token string")
    return tokens


def _rows(vectors: SparseVectors, tokens: np.ndarray) -> Iterator[tuple[str, list[str], list[int]]]:
    for row in range(vectors.n_rows):
        start, end = vectors.indptr[row], vectors.indptr[row + 1]
        yield str(vectors.ids[row]), tokens[vectors.indices[start:end]].tolist(), vectors.data[start:end].tolist()


@contextmanager
def _open_text(path: str | os.PathLike) -> Iterator[IO[str]]:
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, _maybe_gzip(raw, path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        try:
            yield text
        finally:
            text.flush()
            text.detach()


@contextmanager
def _maybe_gzip(raw: IO[bytes], path: str | os.PathLike) -> Iterator[IO[bytes]]:
    if str(path).endswith(".gz"):
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
            yield compressed
    else:
        yield raw
