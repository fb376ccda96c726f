"""BM25 (Lucene variant, as the `bm25s` library scores it): the study's baseline run and the hard
negatives that training mines.

k1 = 0.9 and b = 0.4 (`registry.BM25_K1`, `BM25_B`) are Anserini's MS MARCO defaults; tokens
are bm25s' (lower-cased words of two or more letters or digits, English stop words removed, no
stemming). A query's documents are ranked exactly over the whole collection, ties broken by the
lower row (`topk_rows`, as every ranking of the project).

The index is built a chunk of texts at a time and keeps only the term weights: a float32 weight
and an int32 row per distinct (document, term) pair, about 8 bytes (~26 at the peak, while
they are transposed to term-major), never the texts or their tokens, so MS MARCO's 8.8 M
passages fit a few GB. The weights are computed with the operations
bm25s uses, in the same floating-point order, so scores equal `bm25s.BM25(method="lucene")`'s
bit for bit (tested).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import bm25s
import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..data import Collection
from ..data.ids import check_ids, compact_ids
from ..errors import SpladeError
from ..registry import BM25_B as B
from ..registry import BM25_K1 as K1
from .brute_force import topk_rows

CHUNK_TEXTS = 50_000  # texts tokenized at once: their tokens are the only per-text Python objects held


class _Counts(NamedTuple):
    terms: np.ndarray  # int32 term id of each distinct (row, term) entry
    tf: np.ndarray  # uint32 times the term occurs in the row
    lengths: np.ndarray  # int64 tokens of each row
    row_nnz: np.ndarray  # entries of each row


class BM25:
    """A BM25 index of `texts` (row i is the i-th text), read a chunk at a time."""

    def __init__(
        self,
        texts: Iterable[str],
        k1: float = K1,
        b: float = B,
        progress: bool = False,
        total: int | None = None,
        chunk_texts: int = CHUNK_TEXTS,
    ):
        self.progress = progress
        self.vocab: dict[str, int] = {}
        chunks = []
        texts = iter(texts)
        with tqdm(total=total, desc="bm25 index", unit="doc", disable=not progress, mininterval=5, delay=2) as bar:
            while chunk := list(itertools.islice(texts, chunk_texts)):
                chunks.append(self._count(chunk))
                bar.update(len(chunk))
        lengths = np.concatenate([c.lengths for c in chunks] or [np.empty(0, np.int64)])
        self.size = len(lengths)
        df = np.zeros(len(self.vocab), dtype=np.int64)
        for c in chunks:
            df += np.bincount(c.terms, minlength=len(self.vocab))
        # bm25s: idf = log(1 + (N - df + 0.5) / (df + 0.5)) by math.log, stored as float32
        idf = np.array([math.log(1 + (self.size - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float32)
        average_length = lengths.mean() if self.size else np.float64(0.0)
        indptr = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.concatenate([c.row_nnz for c in chunks] or [[]]), out=indptr[1:])
        indices = np.empty(indptr[-1], dtype=np.int32)
        weights = np.empty(indptr[-1], dtype=np.float32)
        at = 0
        while chunks:  # chunk by chunk, each freed once its weights are written
            c = chunks.pop(0)
            end = at + len(c.terms)
            indices[at:end] = c.terms
            # bm25s: tf / (k1 ((1 - b) + b dl / avgdl) + tf) in float64, times the float32 idf
            tf = c.tf.astype(np.float64)
            dl = np.repeat(c.lengths, c.row_nnz).astype(np.float64)
            weights[at:end] = idf[c.terms] * (tf / (k1 * ((1 - b) + b * dl / average_length) + tf))
            at = end
        if indptr[-1] < 2**31:  # 32-bit offsets, so that scipy keeps the indices 32-bit
            indptr = indptr.astype(np.int32)
        # term-major, as bm25s holds it: a query reads one column per token
        self.matrix = sp.csr_array((weights, indices, indptr), shape=(self.size, len(self.vocab))).tocsc()

    def _count(self, texts: list[str]) -> _Counts:
        """The distinct (row, term) entries of a chunk of texts, rows ascending."""
        tokens = bm25s.tokenize(texts, return_ids=False, show_progress=False)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        vocab = self.vocab
        ids = np.fromiter(
            (vocab.setdefault(token, len(vocab)) for doc in tokens for token in doc),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        keys, tf = np.unique((rows << 32) | ids, return_counts=True)
        row_nnz = np.bincount(keys >> 32, minlength=len(tokens))
        return _Counts((keys & 0xFFFFFFFF).astype(np.int32), tf.astype(np.uint32), lengths, row_nnz)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """float32 score of every row for one tokenized query (unknown tokens match nothing; a
        repeated token counts again, as in bm25s)."""
        out = np.zeros(self.size, dtype=np.float32)
        indptr, indices, data = self.matrix.indptr, self.matrix.indices, self.matrix.data
        for token in query_tokens:
            term = self.vocab.get(token)
            if term is not None:
                begin, end = indptr[term], indptr[term + 1]
                out[indices[begin:end]] += data[begin:end]
        return out

    def topk(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows int32 [queries, k], scores float32) of each query's k best documents with a
        positive score, best first; -1 (score 0) where fewer documents share a term with it."""
        tokens = bm25s.tokenize(list(queries), return_ids=False, show_progress=False)
        rows = np.full((len(queries), k), -1, dtype=np.int32)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        for i, query in enumerate(tqdm(tokens, desc="bm25", disable=not self.progress, mininterval=5, delay=2)):
            if any(token in self.vocab for token in query):
                rows[i : i + 1], scores[i : i + 1] = topk_rows(self.scores(query)[None, :], k)
        return rows, scores


def bm25_index(collection: Collection, k1: float = K1, b: float = B, progress: bool = True) -> tuple[BM25, np.ndarray]:
    """The BM25 index of a collection's documents, streamed from it, and their ids (str array,
    checked); SpladeError naming the collection if it has none or an id is not one."""
    docs = collection.docs()
    ids: list[np.ndarray] = []  # compact, a chunk at a time: a few bytes a document

    def texts():
        for chunk in iter(lambda: list(itertools.islice(docs, CHUNK_TEXTS)), []):
            ids.append(compact_ids(np.array([doc_id for doc_id, _ in chunk], dtype=str)))
            yield from (text for _, text in chunk)

    total = collection.doc_count() if collection.seekable else None
    index = BM25(texts(), k1, b, progress, total=total)
    if not index.size:
        raise SpladeError(f"collection {collection.spec!r} has no documents")
    doc_ids = np.concatenate(ids)
    try:
        check_ids(doc_ids, "document")
    except ValueError as exc:
        raise SpladeError(f"collection {collection.spec!r}: {exc}") from None
    return index, doc_ids.astype(str)


def bm25_topk(
    collection: Collection, k: int = 1000, k1: float = K1, b: float = B, progress: bool = True
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(query ids, document ids, doc_idx [queries, k], scores) of the BM25 run of a collection's
    queries over its documents (`bm25_index`; `runs.iter_topk` turns them into run lines)."""
    index, doc_ids = bm25_index(collection, k1, b, progress)
    queries = collection.queries()
    if not queries:
        raise SpladeError(f"collection {collection.spec!r} has no queries")
    query_ids = [query_id for query_id, _ in queries]
    try:
        check_ids(query_ids, "query")
    except ValueError as exc:
        raise SpladeError(f"collection {collection.spec!r}: {exc}") from None
    doc_idx, scores = index.topk([text for _, text in queries], min(k, index.size))
    return query_ids, doc_ids, doc_idx, scores
