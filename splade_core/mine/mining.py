"""Mining training examples from a collection with relevance judgments (qrels): positives are
the judged-relevant documents, negatives the top retrieved documents that are not judged at all
(BM25, or exact dot products of a SPLADE model's vectors), and teacher scores, when asked for,
come from a cross-encoder or from the SPLADE model itself ("self": SPLADE++ self-distillation).

Mining is deterministic (ties broken by document order) and holds no Python string per
passage: one pass over the corpus keeps its ids as one compact numpy array and builds the
BM25 index (or the SPLADE vectors) a chunk of texts at a time; rankings are arrays of row
numbers; teacher scores are computed a block of queries at a time, on `device`, reading the
texts of that block's documents by seeking in a downloaded corpus (`splade download`, what the
workflow's jobs read), and the examples file is written as the blocks come.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from ..data import Collection, load_collection
from ..data.examples import TrainingExample, write_examples
from ..data.ids import compact_ids, id_text
from ..errors import SpladeError
from ..retrieve.bm25 import BM25, CHUNK_TEXTS
from ..retrieve.brute_force import brute_force_search
from .config import MineConfig

BLOCK_QUERIES = 2048  # examples whose negatives and teacher scores are made at once


def examples_from_qrels(qrels: dict[str, dict[str, int]]) -> list[TrainingExample]:
    """One example per judged query with at least one relevant document, in sorted id order."""
    examples = []
    for query_id in sorted(qrels):
        positives = tuple(sorted(doc_id for doc_id, rel in qrels[query_id].items() if rel > 0))
        if positives:
            examples.append(TrainingExample(query_id, positives))
    return examples


def mine_examples(config: MineConfig) -> tuple[list[TrainingExample], dict[str, Any]]:
    """The mined examples of `config.train_data` and the header describing how they were made."""
    header, examples = mine(config)
    return list(examples), header


def mine_to_file(config: MineConfig, output: str | os.PathLike) -> Path:
    """Mine into a JSONL examples file (`splade_core.data.examples`), written as mining goes
    and renamed into place at the end."""
    header, examples = mine(config)
    return write_examples(output, examples, header)


def mine(config: MineConfig) -> tuple[dict[str, Any], Iterator[TrainingExample]]:
    """(header, examples as they are made): judged positives, the top `depth` retrieved unjudged
    documents as negatives (by rank), and teacher scores for all of them. The ranking is done
    before this returns; negatives and scores are made a block of queries at a time."""
    collection = load_collection(config.train_data)
    if not collection.has_qrels:
        raise SpladeError(f"{config.train_data}: no relevance judgments to take positives from")
    qrels = collection.qrels()
    examples = examples_from_qrels(qrels)
    if config.max_queries is not None and config.max_queries < len(examples):
        chosen = np.random.default_rng(config.seed).choice(len(examples), size=config.max_queries, replace=False)
        examples = [examples[i] for i in np.sort(chosen)]
    query_text = dict(collection.queries())
    missing = [e.query_id for e in examples if e.query_id not in query_text]
    if missing:
        raise SpladeError(f"{config.train_data}: {len(missing)} judged queries have no text (first: {missing[0]!r})")
    queries = [query_text[e.query_id] for e in examples]
    del query_text
    splade = _load_splade(config) if config.uses_model else None
    corpus = Corpus.read(collection, config, splade)
    judged = [sorted(qrels[e.query_id]) for e in examples]
    depth = config.depth + max(map(len, judged), default=0)
    rankings = corpus.rank(queries, depth)
    teacher = None
    if config.teacher is not None:
        from .teachers import make_teacher

        teacher = make_teacher(config, splade, corpus)
    header = {**config.header(), "examples": len(examples)}
    return header, _blocks(examples, queries, judged, rankings, corpus, teacher, config)


def _load_splade(config: MineConfig):
    from ..model import Splade, resolve_model

    splade = Splade.from_pretrained(
        resolve_model(config.model), doc_max_length=config.doc_max_length, query_max_length=config.query_max_length
    )
    return splade.to(config.device)


def _blocks(examples, queries, judged, rankings, corpus, teacher, config: MineConfig) -> Iterator[TrainingExample]:
    def negatives(row: int) -> list[int]:
        exclude = set(corpus.rows_of(judged[row]).tolist())
        return [r for r in _interleave([ranking[row] for ranking in rankings]) if r not in exclude][: config.depth]

    rows: Iterator[list[int]] | list[list[int]] = map(negatives, range(len(examples)))
    if teacher is not None and teacher.needs_texts and not corpus.collection.seekable:
        rows = list(rows)  # a collection read by hand: the texts of every example document, held
        positives = corpus.rows_of([doc_id for e in examples for doc_id in e.positives])
        corpus.prefetch(np.concatenate([positives, np.fromiter(itertools.chain(*rows), dtype=np.int64)]))
    rows = iter(rows)
    with tqdm(total=len(examples), desc="examples", unit="query", disable=not config.progress, mininterval=5) as bar:
        for start in range(0, len(examples), BLOCK_QUERIES):
            stop = min(start + BLOCK_QUERIES, len(examples))
            block = [TrainingExample(e.query_id, e.positives, corpus.ids_of(next(rows))) for e in examples[start:stop]]
            if teacher is not None:
                block = teacher.score(block, queries[start:stop])
            yield from block
            bar.update(stop - start)


def _interleave(rankings: Sequence[np.ndarray]) -> list[int]:
    """Merge ranked rows rank by rank (first list first), each row once, empty places (-1) out."""
    seen: dict[int, None] = {}
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank] >= 0:
                seen.setdefault(int(ranking[rank]), None)
    return list(seen)


class Corpus:
    """A collection's documents as mining needs them, from one pass over the collection: their
    ids (one compact numpy array), a BM25 index and/or the SPLADE vectors of `method`, and
    their texts on demand (`texts`)."""

    def __init__(self, collection: Collection, ids: np.ndarray, bm25: BM25 | None, vectors: sp.csr_array | None,
                 splade=None, config: MineConfig | None = None):  # fmt: skip
        self.collection, self.ids, self.bm25, self.vectors = collection, ids, bm25, vectors
        self.splade, self.config = splade, config
        utf8 = ids if ids.dtype.kind == "S" else np.char.encode(ids, "utf-8")
        self._order = np.argsort(utf8, kind="stable")
        self._sorted = utf8[self._order]
        self._texts: dict[int, str] | None = None

    @classmethod
    def read(cls, collection: Collection, config: MineConfig, splade=None) -> Corpus:
        ids: list[np.ndarray] = []
        vectors = _VectorBuilder(splade, config) if "splade" in config.method else None
        total = collection.doc_count() if collection.seekable else None
        docs = collection.docs()

        def texts() -> Iterator[str]:
            for chunk in iter(lambda: list(itertools.islice(docs, CHUNK_TEXTS)), []):
                chunk_ids, chunk_texts = zip(*chunk)
                ids.append(compact_ids(np.array(chunk_ids, dtype=str)))
                if vectors is not None:
                    vectors.add(list(chunk_texts))
                yield from chunk_texts

        if "bm25" in config.method:
            bm25 = BM25(texts(), progress=config.progress, total=total)
        else:
            bm25 = None
            for _ in texts():
                pass
        if not ids:
            raise SpladeError(f"{collection.spec}: no documents to mine negatives from")
        doc_ids = compact_ids(np.concatenate(ids))
        return cls(collection, doc_ids, bm25, vectors.matrix() if vectors else None, splade, config)

    def __len__(self) -> int:
        return len(self.ids)

    def rank(self, queries: Sequence[str], depth: int) -> list[np.ndarray]:
        """Rows [queries, depth] of each method's ranking (-1 where fewer documents match)."""
        depth = min(depth, len(self))
        rankings = []
        if self.bm25 is not None:
            rankings.append(self.bm25.topk(queries, depth)[0])
        if self.vectors is not None:
            from ..encode import encode_sparse

            query_vectors = encode_sparse(self.splade, "query", queries, self.config.batch_size,
                                          self.config.precision, self.config.progress)  # fmt: skip
            rankings.append(brute_force_search(query_vectors, self.vectors, depth)[0])
        return rankings

    def rows_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Rows of documents by id; -1 for an id the corpus lacks."""
        keys = np.char.encode(np.asarray(doc_ids, dtype=str), "utf-8")
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        found = self._sorted[at] == keys
        return np.where(found, self._order[at], -1)

    def ids_of(self, rows: Sequence[int]) -> tuple[str, ...]:
        return tuple(id_text(self.ids[row]) for row in rows)

    def texts(self, rows: Sequence[int]) -> list[str]:
        """Texts of documents by row: read by seeking in a downloaded corpus; otherwise the
        corpus is read once more for the texts of every example document (`prefetch`)."""
        if self.collection.seekable:
            return [self.collection.doc_at(int(row))[1] for row in rows]
        if self._texts is None:
            raise SpladeError("internal: texts of a collection that cannot seek must be prefetched")
        return [self._texts[int(row)] for row in rows]

    def prefetch(self, rows: np.ndarray) -> None:
        """For a collection that cannot seek (an ir_datasets id or a BEIR folder given by hand):
        hold the texts of `rows`, read in one pass. A downloaded corpus needs nothing."""
        if self.collection.seekable or self._texts is not None:
            return
        wanted = set(np.asarray(rows).tolist())
        self._texts = {row: text for row, (_, text) in enumerate(self.collection.docs()) if row in wanted}


class _VectorBuilder:
    """SPLADE document vectors of the corpus, encoded a chunk of texts at a time (float32 CSR)."""

    def __init__(self, splade, config: MineConfig):
        self.splade, self.config = splade, config
        self.parts: list[sp.csr_array] = []
        self.bar = tqdm(desc="encode docs", unit="doc", disable=not config.progress, mininterval=5)

    def add(self, texts: list[str]) -> None:
        from ..encode import encode_sparse

        self.parts.append(
            encode_sparse(
                self.splade, "doc", texts, self.config.batch_size, self.config.precision, on_batch=self.bar.update
            )
        )

    def matrix(self) -> sp.csr_array:
        self.bar.close()
        return sp.vstack(self.parts, format="csr")
