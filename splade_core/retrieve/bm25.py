"""BM25 baseline (Lucene variant, via the `bm25s` library) on the same collection.

Defaults k1 = 0.9, b = 0.4 are Anserini's; tokens are lower-cased words of two or more
letters or digits, English stop words removed (bm25s' defaults), no stemming.
"""

from __future__ import annotations

import bm25s
import numpy as np

from ..data import Collection
from ..data.ids import check_ids
from ..errors import SpladeError
from .runs import Run, run_from_topk


def bm25_run(collection: Collection, k: int = 1000, k1: float = 0.9, b: float = 0.4, progress: bool = True) -> Run:
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
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(bm25s.tokenize(list(texts), show_progress=progress), show_progress=progress)
    query_tokens = bm25s.tokenize([text for _, text in queries], show_progress=progress)
    k = min(k, len(doc_ids))
    doc_idx, scores = retriever.retrieve(query_tokens, k=k, show_progress=progress)
    doc_idx = np.where(scores > 0, doc_idx, -1)  # documents sharing no term with the query
    return run_from_topk([qid for qid, _ in queries], doc_ids, doc_idx, scores)
