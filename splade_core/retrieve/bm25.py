"""BM25 (Lucene variant, via the `bm25s` library): the study's baseline run and the hard
negatives that training mines.

k1 = 0.9 and b = 0.4 (`registry.BM25_K1`, `BM25_B`) are Anserini's MS MARCO defaults; tokens
are lower-cased words of two or more letters or digits, English stop words removed (bm25s'
defaults), no stemming. A query's documents are ranked exactly over the whole collection, ties
broken by the lower row (`topk_rows`, as every ranking of the project).
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
from tqdm.auto import tqdm

from ..data import Collection
from ..data.ids import check_ids
from ..errors import SpladeError
from ..registry import BM25_B as B
from ..registry import BM25_K1 as K1
from .brute_force import topk_rows
from .runs import Run, run_from_topk


class BM25:
    """A BM25 index of `texts` (row i is texts[i])."""

    def __init__(self, texts: Sequence[str], k1: float = K1, b: float = B, progress: bool = False):
        self.size = len(texts)
        self.progress = progress
        self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.retriever.index(bm25s.tokenize(list(texts), show_progress=progress), show_progress=progress)

    def topk(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows int32 [queries, k], scores float32) of each query's k best documents with a
        positive score, best first; -1 (score 0) where fewer documents share a term with it."""
        tokens = bm25s.tokenize(list(queries), return_ids=False, show_progress=False)
        rows = np.full((len(queries), k), -1, dtype=np.int32)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        for i, query in enumerate(tqdm(tokens, desc="bm25", disable=not self.progress, mininterval=5)):
            known = [token for token in query if token in self.retriever.vocab_dict]
            if known:
                rows[i : i + 1], scores[i : i + 1] = topk_rows(self.retriever.get_scores(known)[None, :], k)
        return rows, scores


def bm25_run(collection: Collection, k: int = 1000, k1: float = K1, b: float = B, progress: bool = True) -> Run:
    docs = list(collection.docs())
    queries = collection.queries()
    if not docs or not queries:
        raise SpladeError(f"collection {collection.spec!r} has no {'documents' if not docs else 'queries'}")
    doc_ids, texts = zip(*docs)
    try:
        check_ids(doc_ids, "document")
        check_ids([query_id for query_id, _ in queries], "query")
    except ValueError as exc:
        raise SpladeError(f"collection {collection.spec!r}: {exc}") from None
    doc_idx, scores = BM25(texts, k1, b, progress).topk([text for _, text in queries], min(k, len(doc_ids)))
    return run_from_topk([qid for qid, _ in queries], doc_ids, doc_idx, scores)
