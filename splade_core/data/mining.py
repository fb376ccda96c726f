"""Mining training examples from a collection with relevance judgments (qrels): positives are
the judged-relevant documents, negatives the top retrieved documents that are not judged at all
(BM25, or exact sparse dot products of a SPLADE model's vectors, both from
`splade_core.retrieve`), and teacher scores, when asked for, come from a cross-encoder (any HF
sequence-classification id or folder) or from the starting SPLADE model itself ("self":
SPLADE++ self-distillation, score = q·d).

Mining is deterministic (no randomness; ties broken by document order). It holds the
collection's texts in memory: at MS MARCO scale, point the training config at published
negatives (``train_examples``), which `splade_core.data.examples` reads as arrays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import SpladeError
from ..registry import MINE_METHODS
from .collections import load_collection
from .examples import TrainingExample

ENCODE_BATCH = 32


# --------------------------------------------------------------------------------------------
# Mining negatives and teacher scores


def examples_from_qrels(qrels: dict[str, dict[str, int]]) -> list[TrainingExample]:
    """One example per judged query with at least one relevant document, in sorted id order."""
    examples = []
    for query_id in sorted(qrels):
        positives = tuple(sorted(doc_id for doc_id, rel in qrels[query_id].items() if rel > 0))
        if positives:
            examples.append(TrainingExample(query_id, positives))
    return examples


def mine_examples(
    train_data: str,
    method: str = "bm25",
    depth: int = 50,
    teacher: str | None = None,
    model: str | os.PathLike | None = None,
    max_queries: int | None = None,
    seed: int = 42,
    doc_max_length: int = 256,
    query_max_length: int = 64,
    batch_size: int = ENCODE_BATCH,
    progress: bool = False,
) -> tuple[list[TrainingExample], dict[str, Any]]:
    """Examples of a collection with qrels: judged positives, the top `depth` retrieved
    unjudged documents as negatives (by rank), and teacher scores for all of them.

    `method`: "bm25", "splade" (the `model`'s vectors, exact dot product) or "bm25+splade"
    (both lists interleaved by rank). `teacher`: None, "self" (the `model`'s q·d) or a
    cross-encoder id/folder. `max_queries` keeps a seeded random subset of the queries.
    Returns the examples and a header describing how they were made.
    """
    if method not in MINE_METHODS:
        raise SpladeError(f"mining method must be one of {', '.join(MINE_METHODS)}, not {method!r}")
    if depth < 1:
        raise SpladeError(f"mining depth must be at least 1 (got {depth})")
    needs_model = "splade" in method or teacher == "self"
    if needs_model and model is None:
        raise SpladeError("mining with SPLADE vectors or a 'self' teacher needs a model")
    collection = load_collection(train_data)
    if not collection.has_qrels:
        raise SpladeError(f"{train_data}: no relevance judgments to take positives from")
    qrels = collection.qrels()
    examples = examples_from_qrels(qrels)
    if max_queries is not None and max_queries < len(examples):
        keep = np.sort(np.random.default_rng(seed).choice(len(examples), size=max_queries, replace=False))
        examples = [examples[i] for i in keep]
    query_text = dict(collection.queries())
    missing = [e.query_id for e in examples if e.query_id not in query_text]
    if missing:
        raise SpladeError(f"{train_data}: {len(missing)} judged queries have no text (first: {missing[0]!r})")
    doc_ids, doc_texts = _unzip(collection.docs())
    queries = [query_text[e.query_id] for e in examples]
    judged = [set(qrels[e.query_id]) for e in examples]
    extra = max(len(j) for j in judged) if judged else 0

    splade = None
    if needs_model:
        from ..model import Splade

        splade = Splade.from_pretrained(model, doc_max_length=doc_max_length, query_max_length=query_max_length)
    rankings: list[list[list[int]]] = []
    doc_matrix = None
    if "bm25" in method:
        rankings.append(bm25_rankings(doc_texts, queries, depth + extra))
    if "splade" in method:
        doc_matrix = encode_sparse(splade, "doc", doc_texts, batch_size, progress)
        query_matrix = encode_sparse(splade, "query", queries, batch_size, progress)
        rankings.append(sparse_rankings(query_matrix, doc_matrix, depth + extra))
    mined = []
    for row, example in enumerate(examples):
        merged = _interleave([ranking[row] for ranking in rankings])
        negatives = [doc_ids[i] for i in merged if doc_ids[i] not in judged[row]][:depth]
        mined.append(TrainingExample(example.query_id, example.positives, tuple(negatives)))
    if teacher is not None and teacher != "none":
        doc_index = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        scorer = make_teacher(teacher, splade, batch_size=batch_size, progress=progress)
        mined = scorer.score_examples(mined, queries, doc_texts, doc_index, doc_matrix=doc_matrix)
    header = mining_header(
        train_data, method, depth, teacher, model, max_queries, seed, doc_max_length, query_max_length
    )
    header["examples"] = len(mined)
    return mined, header


def mining_header(
    train_data: str,
    method: str,
    depth: int,
    teacher: str | None,
    model: str | os.PathLike | None,
    max_queries: int | None,
    seed: int,
    doc_max_length: int,
    query_max_length: int,
) -> dict[str, Any]:
    """What defines a mined examples file (its header, less the example count)."""
    uses_model = "splade" in method or teacher == "self"
    return {
        "train_data": train_data,
        "method": method,
        "depth": depth,
        "teacher": teacher if teacher not in (None, "none") else None,
        "model": str(model) if uses_model else None,
        "max_queries": max_queries,
        "seed": seed if max_queries is not None else None,
        "doc_max_length": doc_max_length if uses_model else None,
        "query_max_length": query_max_length if uses_model else None,
    }


def _unzip(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for doc_id, text in pairs:
        ids.append(doc_id)
        texts.append(text)
    return ids, texts


def _interleave(rankings: Sequence[Sequence[int]]) -> list[int]:
    """Merge ranked lists rank by rank (first list first), keeping each document once."""
    seen: dict[int, None] = {}
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking):
                seen.setdefault(int(ranking[rank]), None)
    return list(seen)


def bm25_rankings(doc_texts: Sequence[str], queries: Sequence[str], depth: int) -> list[list[int]]:
    """Top `depth` document indices per query by BM25 (`splade_core.retrieve.bm25`)."""
    from ..retrieve.bm25 import BM25

    rows, _ = BM25(doc_texts).topk(queries, min(depth, len(doc_texts)))
    return _rankings(rows)


def sparse_rankings(query_matrix: sp.csr_array, doc_matrix: sp.csr_array, depth: int) -> list[list[int]]:
    """Top `depth` document indices per query by exact sparse dot product."""
    from ..retrieve.brute_force import brute_force_search

    rows, _ = brute_force_search(query_matrix, doc_matrix, min(depth, doc_matrix.shape[0]))
    return _rankings(rows)


def _rankings(rows: np.ndarray) -> list[list[int]]:
    """Each row of top-k document indices without its empty (-1) places."""
    return [row[row >= 0].tolist() for row in rows]


def encode_sparse(
    splade, side: str, texts: Sequence[str], batch_size: int = ENCODE_BATCH, progress: bool = False
) -> sp.csr_array:
    """SPLADE vectors of `texts` ('doc' or 'query' side) as a float32 CSR matrix, rows in input
    order: `splade_core.encode.encode_window`, the batches the corpus encoder makes."""
    import torch
    from tqdm.auto import tqdm

    from ..encode import encode_window

    encoder, max_length = splade.encoder_for(side)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=f"encode {side}s", disable=not progress, mininterval=5) as bar,
    ):
        indptr, indices, data = encode_window(encoder, list(texts), max_length, batch_size, bar.update)
    return sp.csr_array((data, indices, indptr), shape=(len(texts), encoder.vocab_size))


class SelfTeacher:
    """SPLADE++ self-distillation: the starting model's dot product q·d as teacher score."""

    def __init__(self, splade, batch_size: int = ENCODE_BATCH, progress: bool = False):
        self.splade = splade
        self.batch_size = batch_size
        self.progress = progress

    def score_examples(self, examples, queries, doc_texts, doc_index, doc_matrix=None):
        needed = sorted({doc_index[d] for e in examples for d in (*e.positives, *e.negatives)})
        if doc_matrix is None:
            docs = encode_sparse(self.splade, "doc", [doc_texts[i] for i in needed], self.batch_size, self.progress)
            row_of = {doc_idx: row for row, doc_idx in enumerate(needed)}
        else:
            docs, row_of = doc_matrix, {doc_idx: doc_idx for doc_idx in needed}
        query_matrix = encode_sparse(self.splade, "query", queries, self.batch_size, self.progress)
        scored = []
        for row, example in enumerate(examples):
            ids = [*example.positives, *example.negatives]
            doc_rows = docs[[row_of[doc_index[d]] for d in ids]]
            values = (doc_rows @ query_matrix[[row]].T).toarray().reshape(-1)
            scored.append(_with_scores(example, ids, values))
        return scored


class CrossEncoderTeacher:
    """A cross-encoder (HF sequence classification) scoring (query, document) pairs; loaded
    on first use. With several labels, the last label's logit minus the first's is the score."""

    def __init__(
        self, name_or_path: str, batch_size: int = ENCODE_BATCH, max_length: int = 512, progress: bool = False
    ):
        self.name_or_path = name_or_path
        self.batch_size = batch_size
        self.max_length = max_length
        self.progress = progress
        self._model = None
        self._tokenizer = None

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
            self._model = AutoModelForSequenceClassification.from_pretrained(self.name_or_path).eval()
        except Exception as exc:  # missing files, bad configs, weights torch or safetensors refuse
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpladeError(
                f"cannot load teacher cross-encoder {self.name_or_path!r} (an HF id needs network access "
                f"or a local copy; use teacher 'self' offline): {first_line}"
            ) from None

    def score_pairs(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        self.load()
        out = np.empty(len(queries), dtype=np.float64)
        for start in tqdm(
            range(0, len(queries), self.batch_size), desc="teacher", disable=not self.progress, mininterval=5
        ):
            stop = start + self.batch_size
            inputs = self._tokenizer(
                list(queries[start:stop]),
                list(docs[start:stop]),
                padding=True,
                truncation="only_second",
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                logits = self._model(**inputs).logits.float()
            values = logits[:, 0] if logits.shape[1] == 1 else logits[:, -1] - logits[:, 0]
            out[start:stop] = values.numpy()
        return out

    def score_examples(self, examples, queries, doc_texts, doc_index, doc_matrix=None):
        pair_queries, pair_docs, spans = [], [], []
        for row, example in enumerate(examples):
            ids = [*example.positives, *example.negatives]
            spans.append((len(pair_queries), ids))
            pair_queries.extend([queries[row]] * len(ids))
            pair_docs.extend(doc_texts[doc_index[d]] for d in ids)
        values = self.score_pairs(pair_queries, pair_docs)
        return [_with_scores(e, ids, values[start : start + len(ids)]) for e, (start, ids) in zip(examples, spans)]


def make_teacher(teacher: str, splade=None, batch_size: int = ENCODE_BATCH, progress: bool = False):
    if teacher == "self":
        return SelfTeacher(splade, batch_size, progress)
    return CrossEncoderTeacher(teacher, batch_size, progress=progress)


def _with_scores(example: TrainingExample, ids: Sequence[str], values: Iterable[float]) -> TrainingExample:
    scores = {doc_id: round(float(v), 6) for doc_id, v in zip(ids, values)}
    return TrainingExample(example.query_id, example.positives, example.negatives, scores)
