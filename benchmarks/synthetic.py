"""Deterministic SPLADE-like collections for index benchmarks.

A document draws ~60% of its terms from one topic's term set and the rest from a Zipfian
background over the whole 30,522-term (BERT) vocabulary, so document frequencies follow a
power law with a long tail, as in SPLADE indexes of MS MARCO. Impacts are integers 1-255
(weights ×100 as after `splade_core.sparse.quantize`): log-normal, larger for rarer terms
and for topic terms. A query starts from one document (its anchor): a dozen of the anchor's
heaviest terms, terms of the anchor's topic, and a few background terms, so every query has
documents that answer it well without being a copy of one.

Everything comes from `numpy.random.default_rng` seeded from (seed, block), so the same
arguments give the same arrays on any machine. Collections are cached as sparse-vector
files under benchmarks/.cache/ (gitignored).

    python benchmarks/synthetic.py --docs 100000 --queries 2000 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from splade_core.sparse import SparseVectors

CACHE = Path(__file__).resolve().parent / ".cache"
GENERATOR_VERSION = 1
BLOCK_DOCS = 20_000


@dataclass(frozen=True)
class SyntheticConfig:
    n_docs: int = 100_000
    n_queries: int = 2_000
    seed: int = 0
    vocab_size: int = 30_522
    doc_terms: float = 120.0  # mean non-zeros per document (before de-duplication)
    query_terms: float = 45.0
    topic_share: float = 0.6  # share of a document's terms drawn from its topic
    topic_size: int = 300  # terms per topic
    docs_per_topic: int = 1_000
    zipf_exponent: float = 1.0  # background term distribution over frequency ranks
    zipf_offset: float = 20.0

    @property
    def n_topics(self) -> int:
        return max(20, self.n_docs // self.docs_per_topic)

    def stem(self) -> str:
        return f"synthetic-v{GENERATOR_VERSION}-d{self.n_docs}-q{self.n_queries}-s{self.seed}"


def load_or_generate(
    config: SyntheticConfig, cache: Path = CACHE, verbose: bool = True
) -> tuple[SparseVectors, SparseVectors]:
    """(documents, queries) for `config`, from the cache when there, else generated and cached."""
    docs_path, queries_path = cache / f"{config.stem()}-docs.npz", cache / f"{config.stem()}-queries.npz"
    if docs_path.is_file() and queries_path.is_file():
        return SparseVectors.load(docs_path), SparseVectors.load(queries_path)
    started = time.perf_counter()
    docs, queries = generate(config)
    docs.save(docs_path)
    queries.save(queries_path)
    if verbose:
        print(f"generated {config.stem()} in {time.perf_counter() - started:.1f} s -> {cache}", file=sys.stderr)
    return docs, queries


def generate(config: SyntheticConfig) -> tuple[SparseVectors, SparseVectors]:
    world = _World(config)
    blocks = [
        world.documents(start, min(start + BLOCK_DOCS, config.n_docs)) for start in range(0, config.n_docs, BLOCK_DOCS)
    ]
    lengths = np.concatenate([np.diff(b[0]) for b in blocks])
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([b[1] for b in blocks])
    data = np.concatenate([b[2] for b in blocks])
    doc_topics = np.concatenate([b[3] for b in blocks])
    meta = {"generator": "benchmarks/synthetic.py", "generator_version": GENERATOR_VERSION, "config": asdict(config)}
    meta["quantization"] = {"scale": 100.0, "dtype": "uint8", "rule": "synthetic integer impacts 1-255"}
    docs = SparseVectors(
        indptr, indices, data, np.array([f"d{i}" for i in range(config.n_docs)]), config.vocab_size, meta
    )
    queries = world.queries(docs, doc_topics)
    return docs, SparseVectors(*queries, config.vocab_size, dict(meta))


class _World:
    """Term frequency ranks, topics and weight laws shared by documents and queries."""

    def __init__(self, config: SyntheticConfig):
        self.config = config
        rng = self._rng(0)
        v = config.vocab_size
        # rank r (0 = most frequent) -> term id: a fixed shuffle, so ids carry no frequency order.
        self.term_of_rank = rng.permutation(v).astype(np.int32)
        self.rank_of_term = np.empty(v, dtype=np.int64)
        self.rank_of_term[self.term_of_rank] = np.arange(v)
        weights = 1.0 / (np.arange(v) + config.zipf_offset) ** config.zipf_exponent
        self.background_cdf = np.cumsum(weights / weights.sum())
        # Topics favour mid-frequency terms: ranks drawn with a flatter law, skipping the head.
        mid = 1.0 / (np.arange(v) + 200.0) ** 0.8
        mid[:50] = 0.0
        mid_cdf = np.cumsum(mid / mid.sum())
        self.topic_terms = np.empty((config.n_topics, config.topic_size), dtype=np.int32)
        for topic in range(config.n_topics):
            ranks = np.unique(np.searchsorted(mid_cdf, rng.random(config.topic_size * 2), side="right"))
            ranks = rng.permutation(np.minimum(ranks, v - 1))[: config.topic_size]
            if len(ranks) < config.topic_size:  # extremely unlikely; pad with random ranks
                extra = rng.choice(np.setdiff1d(np.arange(50, v), ranks), config.topic_size - len(ranks), replace=False)
                ranks = np.concatenate([ranks, extra])
            self.topic_terms[topic] = self.term_of_rank[ranks]
        # Within a topic, term j is used with probability ~ 1/(j+5)^0.7.
        self.topic_logits = -0.7 * np.log(np.arange(config.topic_size) + 5.0)
        # Weight law: rarer terms weigh more (an IDF-like factor in [0.35, 1]).
        self.specificity = 0.35 + 0.65 * np.log1p(self.rank_of_term) / np.log(v)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, GENERATOR_VERSION, *key])

    def _background(self, rng, n: int) -> np.ndarray:
        ranks = np.searchsorted(self.background_cdf, rng.random(n), side="right")
        return self.term_of_rank[np.minimum(ranks, self.config.vocab_size - 1)]

    def _topic_sample(self, rng, topics: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, counts[i] distinct terms of topic topics[i] (Gumbel top-k); (row, term) pairs."""
        size = self.config.topic_size
        keys = self.topic_logits[None, :] + rng.gumbel(size=(len(topics), size))
        order = np.argsort(-keys, axis=1)
        take = np.arange(size)[None, :] < np.minimum(counts, size)[:, None]
        rows = np.broadcast_to(np.arange(len(topics))[:, None], order.shape)[take]
        return rows, self.topic_terms[topics[rows], order[take]]

    def documents(self, start: int, stop: int):
        config = self.config
        rng = self._rng(1, start)
        n = stop - start
        topics = rng.integers(0, config.n_topics, n)
        lengths = np.clip(np.rint(rng.lognormal(np.log(config.doc_terms) - 0.08, 0.4, n)), 16, 600).astype(np.int64)
        n_topic = np.rint(lengths * config.topic_share).astype(np.int64)
        topic_rows, topic_terms = self._topic_sample(rng, topics, n_topic)
        # Background terms collide with each other and with topic terms; draw a few extra.
        n_back = np.rint((lengths - n_topic) * 1.12).astype(np.int64)
        back_rows = np.repeat(np.arange(n), n_back)
        back_terms = self._background(rng, int(n_back.sum()))
        rows = np.concatenate([topic_rows, back_rows])
        terms = np.concatenate([topic_terms, back_terms]).astype(np.int64)
        boost = np.concatenate([np.full(len(topic_rows), 1.5), np.ones(len(back_rows))])
        keys, first = np.unique(rows * config.vocab_size + terms, return_index=True)
        rows, terms, boost = keys // config.vocab_size, (keys % config.vocab_size).astype(np.int32), boost[first]
        noise = rng.lognormal(0.0, 0.55, len(terms))
        impacts = np.clip(np.rint(55.0 * self.specificity[terms] * boost * noise), 1, 255).astype(np.uint8)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
        return indptr, terms, impacts, topics

    def queries(self, docs: SparseVectors, doc_topics: np.ndarray, anchors: np.ndarray | None = None):
        """Queries built around anchor rows of `docs` (drawn at random unless given)."""
        config = self.config
        rng = self._rng(2)
        n = config.n_queries
        anchors = rng.integers(0, docs.n_rows, n) if anchors is None else anchors
        rows, terms, boosts = [], [], []
        lengths = np.clip(np.rint(rng.lognormal(np.log(config.query_terms) - 0.05, 0.3, n)), 8, 200).astype(np.int64)
        for q, (anchor, length) in enumerate(zip(anchors, lengths)):
            start, end = docs.indptr[anchor], docs.indptr[anchor + 1]
            doc_terms, doc_impacts = docs.indices[start:end], docs.data[start:end]
            top = doc_terms[np.argsort(-doc_impacts.astype(np.int64), kind="stable")[: max(4, length // 4)]]
            n_topic = int(length * 0.55)
            topic = self.topic_terms[doc_topics[anchor]]
            picks = np.argsort(-(self.topic_logits + rng.gumbel(size=len(topic))))[:n_topic]
            background = self._background(rng, max(1, length - len(top) - n_topic))
            row_terms = np.concatenate([top, topic[picks], background])
            row_boost = np.concatenate([np.full(len(top), 1.6), np.full(n_topic, 1.3), np.ones(len(background))])
            row_terms, first = np.unique(row_terms, return_index=True)
            rows.append(np.full(len(row_terms), q))
            terms.append(row_terms.astype(np.int32))
            boosts.append(row_boost[first])
        rows, terms, boosts = np.concatenate(rows), np.concatenate(terms), np.concatenate(boosts)
        noise = rng.lognormal(0.0, 0.5, len(terms))
        impacts = np.clip(np.rint(60.0 * self.specificity[terms] * boosts * noise), 1, 255).astype(np.uint8)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
        return indptr, terms, impacts, np.array([f"q{i}" for i in range(n)])


def describe(docs: SparseVectors, queries: SparseVectors) -> str:
    df = np.bincount(docs.indices, minlength=docs.vocab_size)
    ranked = np.sort(df)[::-1]
    return (
        f"{docs.n_rows} docs, {docs.nnz} postings ({docs.row_nnz().mean():.1f}/doc), "
        f"{queries.n_rows} queries ({queries.row_nnz().mean():.1f} terms/query); "
        f"terms used {int((df > 0).sum())}; df of ranks 1/10/100/1000/10000: "
        f"{'/'.join(str(int(ranked[r])) for r in (0, 9, 99, 999, 9999))}; "
        f"doc impacts median {int(np.median(docs.data))}, p99 {int(np.percentile(docs.data, 99))}; "
        f"query impacts median {int(np.median(queries.data))}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    docs, queries = load_or_generate(
        SyntheticConfig(n_docs=args.docs, n_queries=args.queries, seed=args.seed), args.cache
    )
    print(describe(docs, queries))


if __name__ == "__main__":
    main()
