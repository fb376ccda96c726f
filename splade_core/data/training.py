"""The example stream a training run reads: examples (`splade_core.data.examples`) drawn in a
deterministic order, with the texts of their queries and documents.

Sampling is a pure function of the seed and the example's position in the stream, so a resumed
run draws exactly what an uninterrupted one did. Memory holds the examples as arrays and, for a
downloaded corpus, one row number per document the examples name; a drawn document's text is
read by seeking to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpladeError
from .collections import Collection, load_collection
from .examples import Examples, TrainingExample, as_examples
from .ids import id_text

_SCAN_ROWS = 1 << 16  # collection documents matched against the examples' ids at once


@dataclass(frozen=True)
class TrainingItem:
    """One drawn example as texts, ready to tokenize: a positive and n negatives."""

    query: str
    positive: str
    negatives: tuple[str, ...]
    teacher_positive: float | None = None
    teacher_negatives: tuple[float, ...] | None = None


class CorpusTexts:
    """Texts of a downloaded corpus by document number (`Examples.doc_ids`), read from disk when
    asked for (a seek by the corpus's offsets): holds one row per document, not the texts."""

    def __init__(self, collection: Collection, rows: np.ndarray):
        self._collection, self._rows = collection, rows

    def __getitem__(self, doc: int) -> str:
        row = int(self._rows[doc])
        if row < 0:
            raise KeyError(doc)
        return self._collection.doc_at(row)[1]

    def __len__(self) -> int:
        return int(np.count_nonzero(self._rows >= 0))


def _utf8(ids: np.ndarray) -> np.ndarray:
    """Ids as UTF-8 bytes ('S'), whose order is the order of the code points."""
    return ids if ids.dtype.kind == "S" else np.char.encode(ids, "utf-8")


def locate_docs(collection: Collection, doc_ids: np.ndarray, used: np.ndarray) -> CorpusTexts | dict[int, str]:
    """Where the texts of documents `doc_ids[used]` (`doc_ids` sorted) are: their rows in a
    downloaded corpus, or, for a collection that cannot seek, their texts. One pass over the
    collection's ids, matched a block at a time with numpy."""
    wanted = _utf8(doc_ids)
    rows = np.full(len(doc_ids), -1, dtype=np.int64)
    texts: dict[int, str] = {}
    seekable = collection.seekable

    def match(block_ids: list[str], block_texts: list[str], first_row: int) -> None:
        if not len(wanted):
            return
        block = np.char.encode(np.array(block_ids, dtype=str), "utf-8")
        at = np.minimum(np.searchsorted(wanted, block), len(wanted) - 1)
        hit = np.flatnonzero((wanted[at] == block) & used[at])
        rows[at[hit]] = first_row + hit
        if not seekable:
            texts.update((int(at[i]), block_texts[i]) for i in hit)

    block_ids: list[str] = []
    block_texts: list[str] = []
    first_row = 0
    for doc_id, text in collection.docs():
        block_ids.append(doc_id)
        if not seekable:
            block_texts.append(text)
        if len(block_ids) == _SCAN_ROWS:
            match(block_ids, block_texts, first_row)
            first_row += len(block_ids)
            block_ids, block_texts = [], []
    match(block_ids, block_texts, first_row)
    absent = np.flatnonzero(used & (rows < 0))
    if len(absent):
        raise SpladeError(
            f"{collection.spec}: {len(absent)} example documents are not in the collection "
            f"(first: {id_text(doc_ids[absent[0]])!r})"
        )
    return CorpusTexts(collection, rows) if seekable else texts


@dataclass
class TrainingData:
    """Examples plus the texts they refer to, drawn as a deterministic stream.

    Example number g of the stream (g = 0, 1, ...) is example `order_e[g mod N]` of epoch
    e = g // N, where `order_e` is a permutation seeded by (seed, e); its positive and
    negatives are drawn with a generator seeded by (seed, e, g mod N). Nothing depends on what
    was drawn before, so a run resumed at position g continues exactly.
    """

    examples: Examples
    query_text: dict[str, str]
    doc_text: CorpusTexts | dict[int, str]  # by document number of `examples.doc_ids`
    seed: int = 42
    dropped: int = 0
    _orders: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        train_data: str,
        examples: Examples | Sequence[TrainingExample],
        seed: int = 42,
        needs_negatives: bool = False,
        needs_scores: bool = False,
    ) -> TrainingData:
        """Resolve the texts of `examples` from the collection `train_data`; examples without
        negatives are dropped when negatives are needed. Missing texts or teacher scores are
        errors (a file made for another collection, or without the scores distillation needs)."""
        collection = load_collection(train_data)
        examples = as_examples(examples)
        kept = examples.take(np.flatnonzero(examples.negative_counts > 0)) if needs_negatives else examples
        if not len(kept):
            raise SpladeError(f"{train_data}: no training example has hard negatives")
        if needs_scores:
            unscored = np.flatnonzero(kept.unscored())
            if len(unscored):
                raise SpladeError(
                    f"query {id_text(kept.query_ids[unscored[0]])!r} lacks teacher scores for its positives and "
                    "negatives; distillation needs them (mine with a teacher, or give a file with scores)"
                )
        query_ids = {id_text(q) for q in kept.query_ids}
        query_text = {q: text for q, text in collection.queries() if q in query_ids}
        if len(query_text) < len(query_ids):
            missing = sorted(query_ids - set(query_text))
            raise SpladeError(
                f"{train_data}: {len(missing)} example queries are not in the collection (first: {missing[0]!r})"
            )
        used = np.zeros(len(kept.doc_ids), dtype=bool)
        used[kept.pos] = used[kept.neg] = True
        doc_text = locate_docs(collection, kept.doc_ids, used)
        return cls(kept, query_text, doc_text, seed, len(examples) - len(kept))

    def __len__(self) -> int:
        return len(self.examples)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))}
        return self._orders[epoch]

    def item(self, position: int, n_negatives: int) -> TrainingItem:
        """Example number `position` of the stream with one positive and n negatives drawn."""
        examples = self.examples
        epoch, index = divmod(position, len(examples))
        example = int(self._order(epoch)[index])
        rng = np.random.default_rng([self.seed, epoch, index])
        positives, negatives = examples.positive_slice(example), examples.negative_slice(example)
        pick = positives.start + int(rng.integers(positives.stop - positives.start))
        drawn_negatives = np.zeros(0, dtype=np.int64)
        if n_negatives:
            pool = negatives.stop - negatives.start
            drawn_negatives = negatives.start + rng.choice(pool, size=n_negatives, replace=pool < n_negatives)
        docs = [int(examples.pos[pick]), *(int(d) for d in examples.neg[drawn_negatives])]
        teacher = [float(examples.pos_scores[pick]), *(float(s) for s in examples.neg_scores[drawn_negatives])]
        teacher_positive = teacher_negatives = None
        if examples.scored[example] and not np.isnan(teacher).any():
            teacher_positive, teacher_negatives = teacher[0], tuple(teacher[1:])
        return TrainingItem(
            self.query_text[id_text(examples.query_ids[example])],
            self.doc_text[docs[0]],
            tuple(self.doc_text[d] for d in docs[1:]),
            teacher_positive,
            teacher_negatives,
        )

    def items(self, start: int, count: int, n_negatives: int) -> list[TrainingItem]:
        return [self.item(position, n_negatives) for position in range(start, start + count)]
