"""Training examples: a query, its positive(s), hard negatives and optional teacher scores.

Examples come from a local file when one is given, otherwise they are mined from a collection
with relevance judgments (qrels): positives are the judged-relevant documents, negatives the
top retrieved documents that are not judged at all (BM25 through ``bm25s``, or exact sparse
dot products of a SPLADE model's vectors), and teacher scores, when asked for, come from a
cross-encoder (any HF sequence-classification id or folder) or from the starting SPLADE model
itself ("self": SPLADE++ self-distillation, score = q·d).

Local example files (ids refer to the queries and documents of the collection spec):

- JSONL, one example per line::

      {"qid": "q1", "pos": ["d1"], "neg": ["d7", "d3"], "scores": {"d1": 12.5, "d7": 3.1}}

  ``neg`` and ``scores`` are optional; ``scores`` needs an entry for the positive and every
  negative that distillation may draw. A first line ``{"format": "splade-core/training-examples",
  ...}`` (written by `write_examples`) describes how the file was made and is skipped on reading.
- TSV triples, the MS MARCO ``qidpidtriples`` layout: ``qid<TAB>pid+<TAB>pid-`` per line;
  lines of one query are merged into one example (positives and negatives in file order).
- TSV with teacher margins, the layout of Hofstätter et al.'s published ensemble scores:
  ``score+<TAB>score-<TAB>qid<TAB>pid+<TAB>pid-``.

Files ending ``.gz`` are read decompressed. Everything here is deterministic: mining has no
randomness (ties broken by document order) and sampling is a pure function of the seed and the
example's position in the stream, so a resumed run draws exactly what an uninterrupted one did.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import SpladeError
from ..io import atomic_path
from ..registry import MINE_METHODS
from .collections import load_collection

FORMAT = "splade-core/training-examples"
VERSION = 1
# BM25 parameters of the Anserini/Pyserini MS MARCO baseline, the usual hard-negative source.
BM25_K1, BM25_B = 0.9, 0.4
ENCODE_BATCH = 32


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
class TrainingItem:
    """One drawn example as texts, ready to tokenize: a positive and n negatives."""

    query: str
    positive: str
    negatives: tuple[str, ...]
    teacher_positive: float | None = None
    teacher_negatives: tuple[float, ...] | None = None


# --------------------------------------------------------------------------------------------
# Reading and writing example files


def read_examples(path: str | os.PathLike) -> tuple[list[TrainingExample], dict[str, Any]]:
    """Examples of a JSONL or TSV file (see module docstring) and its header (or {})."""
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such training-examples file")
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".jsonl") or name.endswith(".json"):
        return _read_jsonl_examples(path)
    if name.endswith(".tsv") or name.endswith(".txt"):
        return _read_tsv_examples(path), {}
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


def _read_jsonl_examples(path: Path) -> tuple[list[TrainingExample], dict[str, Any]]:
    examples: list[TrainingExample] = []
    header: dict[str, Any] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SpladeError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise SpladeError(f"{path}:{number}: expected a JSON object")
            if "format" in record:
                if record["format"] != FORMAT or record.get("version") != VERSION:
                    raise SpladeError(
                        f"{path}: format {record['format']!r} v{record.get('version')} is not {FORMAT} v{VERSION}"
                    )
                header = record
                continue
            examples.append(_example_from_record(record, f"{path}:{number}"))
    return examples, header


def _example_from_record(record: dict, where: str) -> TrainingExample:
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
    return TrainingExample(
        str(record["qid"]), tuple(str(p) for p in positives), tuple(str(n) for n in negatives), scores
    )


def _read_tsv_examples(path: Path) -> list[TrainingExample]:
    """MS MARCO id triples (3 columns) or teacher-margin files (5 columns), merged per query."""
    positives: dict[str, dict[str, None]] = {}
    negatives: dict[str, dict[str, None]] = {}
    scores: dict[str, dict[str, float]] = {}
    with _open_text(path) as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) == 3:
                query_id, pos, neg = row
            elif len(row) == 5:
                try:
                    pos_score, neg_score = float(row[0]), float(row[1])
                except ValueError:
                    raise SpladeError(f"{path}:{number}: expected score+, score-, qid, pid+, pid-") from None
                query_id, pos, neg = row[2:]
                query_scores = scores.setdefault(query_id, {})
                query_scores[pos], query_scores[neg] = pos_score, neg_score
            else:
                raise SpladeError(
                    f"{path}:{number}: expected 3 columns (qid, pid+, pid-) or 5 "
                    f"(score+, score-, qid, pid+, pid-), got {len(row)}"
                )
            positives.setdefault(query_id, {})[pos] = None
            negatives.setdefault(query_id, {})[neg] = None
    return [
        TrainingExample(
            query_id,
            tuple(positives[query_id]),
            tuple(n for n in negatives[query_id] if n not in positives[query_id]),
            scores.get(query_id),
        )
        for query_id in positives
    ]


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
    """Top `depth` document indices per query by BM25 (k1 0.9, b 0.4, English stopwords)."""
    import bm25s

    depth = min(depth, len(doc_texts))
    corpus_tokens = bm25s.tokenize(list(doc_texts), stopwords="en", show_progress=False)
    retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
    retriever.index(corpus_tokens, show_progress=False)
    query_tokens = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
    rankings = []
    for tokens in query_tokens:
        known = [t for t in tokens if t in retriever.vocab_dict]
        scores = retriever.get_scores(known) if known else np.zeros(len(doc_texts), dtype=np.float32)
        rankings.append(_top_k(np.asarray(scores), depth, positive_only=True))
    return rankings


def sparse_rankings(
    query_matrix: sp.csr_array, doc_matrix: sp.csr_array, depth: int, chunk: int = 256
) -> list[list[int]]:
    """Top `depth` document indices per query by exact sparse dot product."""
    depth = min(depth, doc_matrix.shape[0])
    doc_t = doc_matrix.T.tocsr()
    rankings = []
    for start in range(0, query_matrix.shape[0], chunk):
        scores = (query_matrix[start : start + chunk] @ doc_t).toarray()
        rankings.extend(_top_k(row, depth, positive_only=True) for row in scores)
    return rankings


def _top_k(scores: np.ndarray, k: int, positive_only: bool = False) -> list[int]:
    """Indices of the k highest scores, best first, ties broken by lower index."""
    if k < len(scores):
        # Everything strictly above the k-th value, then the tied ones in index order.
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= kth)
    else:
        candidates = np.arange(len(scores))
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
    if positive_only:
        order = order[scores[order] > 0]
    return order.tolist()


def encode_sparse(
    splade, side: str, texts: Sequence[str], batch_size: int = ENCODE_BATCH, progress: bool = False
) -> sp.csr_array:
    """SPLADE vectors of `texts` ('doc' or 'query' side) as a float32 CSR matrix, rows in input
    order; batches are formed over texts sorted by length so padding costs little."""
    import torch
    from tqdm.auto import tqdm

    encoder, max_length = splade.encoder_for(side)
    lengths = [len(ids) for ids in encoder.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    blocks: list[sp.csr_array] = [sp.csr_array((0, encoder.vocab_size), dtype=np.float32)]
    batches = range(0, len(texts), batch_size)
    for start in tqdm(batches, desc=f"encode {side}s", disable=not progress, mininterval=5):
        picked = order[start : start + batch_size]
        inputs = encoder.tokenize([texts[i] for i in picked], max_length)
        with torch.inference_mode():
            vectors = encoder.encode_dense(inputs["input_ids"], inputs["attention_mask"]).float().cpu().numpy()
        blocks.append(sp.csr_array(vectors))
    in_length_order = sp.csr_array(sp.vstack(blocks, format="csr"), dtype=np.float32)
    return in_length_order[np.argsort(order, kind="stable")]


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


# --------------------------------------------------------------------------------------------
# The example stream a training run reads


class CorpusTexts(Mapping):
    """Document id -> text of a downloaded corpus, read from disk when asked for (a seek by
    the corpus's offsets); holds the ids and rows of the documents examples name, sorted."""

    def __init__(self, collection, ids: np.ndarray, rows: np.ndarray):
        self._collection, self._ids, self._rows = collection, ids, rows

    @classmethod
    def of(cls, collection, wanted: set[str]) -> CorpusTexts:
        ids, rows = [], []
        for row, (doc_id, _) in enumerate(collection.docs()):
            if doc_id in wanted:
                ids.append(doc_id)
                rows.append(row)
        ids_array = np.array(ids, dtype=str)
        order = np.argsort(ids_array, kind="stable")
        return cls(collection, ids_array[order], np.asarray(rows, dtype=np.int64)[order])

    def _row(self, doc_id: str) -> int | None:
        at = int(np.searchsorted(self._ids, doc_id))
        return int(self._rows[at]) if at < len(self._ids) and self._ids[at] == doc_id else None

    def __getitem__(self, doc_id: str) -> str:
        row = self._row(doc_id)
        if row is None:
            raise KeyError(doc_id)
        return self._collection.doc_at(row)[1]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._row(doc_id) is not None

    def __iter__(self) -> Iterator[str]:
        return (str(doc_id) for doc_id in self._ids)

    def __len__(self) -> int:
        return len(self._ids)


@dataclass
class TrainingData:
    """Examples plus the texts they refer to, drawn as a deterministic stream.

    Example number g of the stream (g = 0, 1, ...) is example `order_e[g mod N]` of epoch
    e = g // N, where `order_e` is a permutation seeded by (seed, e); its positive and
    negatives are drawn with a generator seeded by (seed, e, g mod N). Nothing depends on what
    was drawn before, so a run resumed at position g continues exactly.
    """

    examples: list[TrainingExample]
    query_text: dict[str, str]
    doc_text: Mapping[str, str]  # a dict, or CorpusTexts reading a downloaded corpus
    seed: int = 42
    dropped: int = 0
    _orders: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        train_data: str,
        examples: list[TrainingExample],
        seed: int = 42,
        needs_negatives: bool = False,
        needs_scores: bool = False,
    ) -> TrainingData:
        """Resolve the texts of `examples` from the collection `train_data`; examples without
        negatives are dropped when negatives are needed. Missing texts or teacher scores are
        errors (a file made for another collection, or without the scores distillation needs)."""
        collection = load_collection(train_data)
        kept = [e for e in examples if e.negatives] if needs_negatives else list(examples)
        if not kept:
            raise SpladeError(f"{train_data}: no training example has hard negatives")
        query_text = dict(collection.queries())
        missing = [e.query_id for e in kept if e.query_id not in query_text]
        if missing:
            raise SpladeError(
                f"{train_data}: {len(missing)} example queries are not in the collection (first: {missing[0]!r})"
            )
        wanted = {d for e in kept for d in (*e.positives, *e.negatives)}
        if collection.seekable:  # texts read when drawn: memory holds ids, not the corpus
            doc_text: Mapping[str, str] = CorpusTexts.of(collection, wanted)
        else:
            doc_text = {doc_id: text for doc_id, text in collection.docs() if doc_id in wanted}
        if len(doc_text) < len(wanted):
            absent = sorted(wanted - set(doc_text))
            raise SpladeError(
                f"{train_data}: {len(absent)} example documents are not in the collection (first: {absent[0]!r})"
            )
        if needs_scores:
            for example in kept:
                ids = (*example.positives, *example.negatives)
                if example.scores is None or any(d not in example.scores for d in ids):
                    raise SpladeError(
                        f"query {example.query_id!r} lacks teacher scores for its positives and negatives; "
                        "distillation needs them (mine with a teacher, or give a file with scores)"
                    )
        return cls(kept, {e.query_id: query_text[e.query_id] for e in kept}, doc_text, seed, len(examples) - len(kept))

    def __len__(self) -> int:
        return len(self.examples)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))}
        return self._orders[epoch]

    def item(self, position: int, n_negatives: int) -> TrainingItem:
        """Example number `position` of the stream with one positive and n negatives drawn."""
        epoch, index = divmod(position, len(self.examples))
        example = self.examples[self._order(epoch)[index]]
        rng = np.random.default_rng([self.seed, epoch, index])
        positive = example.positives[rng.integers(len(example.positives))]
        negatives: tuple[str, ...] = ()
        if n_negatives:
            pool = example.negatives
            picks = rng.choice(len(pool), size=n_negatives, replace=len(pool) < n_negatives)
            negatives = tuple(pool[i] for i in picks)
        teacher_positive = teacher_negatives = None
        if example.scores is not None and all(d in example.scores for d in (positive, *negatives)):
            teacher_positive = example.scores[positive]
            teacher_negatives = tuple(example.scores[d] for d in negatives)
        return TrainingItem(
            self.query_text[example.query_id],
            self.doc_text[positive],
            tuple(self.doc_text[d] for d in negatives),
            teacher_positive,
            teacher_negatives,
        )

    def items(self, start: int, count: int, n_negatives: int) -> list[TrainingItem]:
        return [self.item(position, n_negatives) for position in range(start, start + count)]
