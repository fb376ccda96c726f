"""The public face of the C++ inverted index (`splade_core.index._index`).

Documents are CSR rows of integer impacts (uint8 or uint16; zero entries are dropped); a row
may list its terms in any order but must not repeat a term. Queries are CSR rows too:

* integer weights in [0, 65535] score exactly: a document's score is the sum over shared terms
  of weight * impact, returned as int64, so every exact algorithm equals brute force;
* float weights (non-negative) are scored in 16-bit fixed point per query — the largest weight
  of the row becomes 65535 and the others are rounded to nearest — and come back as float32
  (integer score / that factor); rankings equal float scoring up to that rounding.

Query term ids that are >= vocab_size, or that no document holds, match nothing; zero weights
are ignored; a repeated term id in a query row is an error. Results are two [n_queries, k]
arrays: doc_idx (int32) and scores, best first — higher score, then smaller doc_idx — holding
only documents that share at least one term with the query, padded with doc_idx -1 and score 0
(so k > n_docs is allowed).

An index may be built with its documents reordered (`reorder="bp"`: recursive graph bisection,
so that documents sharing terms get nearby internal indices and block-max pruning skips more).
The order is stored in the file, and nothing else changes for the caller: doc_idx are still
input rows, and equal scores still go to the smaller row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import SpladeError
from ..io import parse_json, remove_stale_temps
from . import _index
from .clusters import CLUSTERS_KEY, ClusterOptions
from .presets import PRESET_MAX_K, PRESETS, PRESETS_KEY, Preset, calibrate

IndexFormatError = _index.IndexFormatError
IndexFormatError.__module__ = "splade_core.index"
IndexFormatError.__doc__ = "The file is not an index, or it is truncated or corrupted (a ValueError)."

ALGORITHMS: tuple[str, ...] = tuple(_index.ALGORITHMS)
DEFAULT_ALGORITHM = "default"  # resolved per index and k by InvertedIndex.default_algorithm
# Where "default" picks bmp over exhaustive: block-max pruning pays once documents are ordered
# for locality (reorder="bp" or a given doc_order), the collection has enough doc-range blocks
# to skip, and k is small enough that the k-th score rises early. CPU p50 ratios bmp /
# exhaustive on BP-ordered synthetic collections at k = 10 / 30 / 100 / 300 / 1,000, 2 vCPU
# Zen 4 (`python benchmarks/default_algorithm.py --docs 50000,75000,100000,200000,1000000 --k
# 10,30,100,300,1000`, 2026-12-07, results/default-algorithm.json): 50k 1.32 / 1.22 / 1.46 /
# 1.57 / 2.30; 75k 1.01 / 0.92 / 1.26 / 1.44 / 1.96; 100k 0.85 / 0.85 / 1.15 / 1.35 / 1.95; 200k
# 0.59 / 0.59 / 0.90 / 1.24 / 1.74; 1M 0.36 / 0.35 / 0.67 / 1.13 / 1.47. So: (at least this many
# documents, bmp up to this k).
BMP_MAX_K: tuple[tuple[int, int], ...] = ((100_000, 30), (200_000, 100))
BMP_MIN_DOCS = BMP_MAX_K[0][0]
# From this many documents on, calibrate_presets builds clustered sections and times clustered
# search beside the bmp presets (below it, exact search is about as fast as any approximate one).
CLUSTERS_MIN_DOCS = BMP_MIN_DOCS


def bmp_max_k(n_docs: int) -> int:
    """The largest k at which "default" runs bmp on a reordered index of n_docs documents (0:
    never, below BMP_MIN_DOCS)."""
    return max((k for docs, k in BMP_MAX_K if n_docs >= docs), default=0)


CODEC_OPTIONS = {"codec": "simdbp128", "dense_min_df": None, "pass_entries": None}
REORDERINGS: tuple[str, ...] = ("bp",)
# reorder="auto": BP where bmp then becomes the default exact algorithm (n >= BMP_MIN_DOCS); the
# order costs build time (BP 4.7 s beside a 0.4 s build at 200k documents, 886 s beside 75 s at
# 8.8 M) and buys k = 10 search (bmp on the BP index 0.165 ms against exhaustive in input order
# 0.263 ms at 200 k; 5.1 against 10.6 ms at 8.8 M; benchmarks/RESULTS.md, docs/scale.md).
AUTO_REORDER = "auto"
_FLOAT_FIXED_POINT = 65535.0
_DOC_ID_CHUNK = 1 << 18
_MAX_WEIGHT = 65535


@dataclass(frozen=True)
class BPOptions:
    """Recursive graph bisection (Dhulipala et al., KDD 2016; Mackenzie et al., ECIR 2019), as
    in PISA's `reorder-docids --recursive-graph-bisection`: partitions are split in two, and for
    `iterations` rounds the documents whose move lowers the log-gap cost most are swapped
    between the halves; then each half is split in turn, down to `min_partition` documents
    (default: the index's block_size; splits fall on block boundaries) or `max_depth` levels.
    Terms in fewer than `min_df` documents or in more than `max_df_ratio` of them are ignored.
    `seed` 0 starts from the input order, any other value from a seeded shuffle of it. The same
    input and options give the same order, whatever the thread count.

    In `InvertedIndex.build` these are the keyword options `bp_iterations`, `bp_min_partition`...
    """

    iterations: int = 20
    min_partition: int | None = None
    max_depth: int | None = None
    min_df: int = 2
    max_df_ratio: float = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("iterations", "min_df", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"BP {name} must be a non-negative integer, not {value!r}")
        if self.seed >= 2**64:
            raise ValueError(f"BP seed must be below 2^64, not {self.seed}")
        for name in ("min_partition", "max_depth"):
            value = getattr(self, name)
            if value is not None:
                _positive_int(value, f"BP {name}")
        ratio = self.max_df_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.number)) or not 0.0 < ratio <= 1.0:
            raise ValueError(f"BP max_df_ratio must be in (0, 1], not {ratio!r}")


_BP_KEYWORDS = {f"bp_{f.name}": f.name for f in fields(BPOptions)}


def bp_order(
    docs_csr,
    *,
    vocab_size: int | None = None,
    block_size: int = 64,
    threads: int = 1,
    options: BPOptions | None = None,
) -> np.ndarray:
    """Recursive graph bisection order of the rows of `docs_csr` (see `BPOptions`): a uint32
    permutation whose element i is the row to place at position i; `InvertedIndex.build(...,
    doc_order=order)` indexes the rows in that order. The GIL is released while it runs."""
    indptr, indices, data, width = _as_csr(docs_csr, "docs")
    vocab_size = _vocab_size(vocab_size, width, indices)
    return bp_order_chunks(
        [(indptr, indices, data)],
        vocab_size=vocab_size,
        size=(len(indptr) - 1, len(indices)),
        block_size=block_size,
        threads=threads,
        options=options,
    )


def bp_order_chunks(
    chunks: Iterable,
    *,
    vocab_size: int,
    size: tuple[int, int] | None = None,
    block_size: int = 64,
    threads: int = 1,
    options: BPOptions | None = None,
) -> np.ndarray:
    """`bp_order` of rows given a chunk at a time (scipy CSR or (indptr, indices, data), in row
    order), so that a corpus read from disk is never held whole: only its terms are kept, in a
    forward index of 2 bytes a posting (BERT's vocabulary fits 16 bits). `size` = (rows,
    postings) in all, if known, saves regrowing that index."""
    options = BPOptions() if options is None else options
    if not isinstance(options, BPOptions):
        raise TypeError(f"options must be a BPOptions, not {type(options).__name__}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
        raise ValueError(f"vocab_size must be an integer, not {vocab_size!r}")
    vocab_size = _vocab_size(vocab_size, None, None)
    block_size = _positive_int(block_size, "block_size")
    if block_size >= 2**32:
        raise ValueError(f"block_size must be below 2^32, not {block_size}")
    threads = _positive_int(threads, "threads")
    collector = _index.BPCollector(vocab_size)
    if size is not None:
        collector.reserve(*size)
    for chunk in chunks:
        indptr, indices, data, _ = _as_csr(chunk, "docs")
        if collector.n_docs + len(indptr) - 1 > np.iinfo(np.int32).max:
            raise ValueError("at most 2^31 - 1 documents are supported")
        collector.add(indptr, _term_ids(indices, vocab_size, "docs"), _impacts(data))
    settings = (options.min_partition or 0, options.max_depth or 0, int(options.iterations), int(options.min_df))
    return collector.order(block_size, *settings, float(options.max_df_ratio), int(options.seed), threads)


class InvertedIndex:
    """A compressed, memory-mappable inverted index over quantized sparse vectors.

    `algorithms` are all exact: "exhaustive" (term-at-a-time over cache-sized windows of
    documents, no pruning; fastest without reordering and at large k), "bmp" (block-max
    pruning over doc-range blocks; it prunes most when similar documents have nearby doc
    indices, i.e. after `reorder="bp"`) and "maxscore" (document-at-a-time MaxScore).
    `algorithm="default"` runs `default_algorithm(k)`, the fastest of them as measured for
    an index of this kind. Three options make a search approximate, never
    by default: `alpha` < 1 prunes when a bound times alpha is below the k-th score (bmp,
    maxscore); `term_ratio` < 1 keeps only the heaviest ceil(term_ratio * n) query terms; and
    `bound_share` < 1 (bmp) computes block bounds from the query terms of largest weight × max
    impact only, as many as reach that share of their sum: the other terms still score, but
    no longer raise bounds, so fewer blocks are visited and the bounds cost less to compute.

    `algorithm="clustered"` is approximate by design, Seismic-style: it needs the clustered
    sections of `build_clusters` and visits the clusters of the query's `query_cut` heaviest
    terms best summary estimate first (estimated from the query's 2 x `query_cut` heaviest
    terms), while the estimate reaches `heap_factor` x the k-th score so far, scoring their
    documents exactly from a forward index.
    """

    algorithms: tuple[str, ...] = ALGORITHMS
    exact_algorithms: tuple[str, ...] = ALGORITHMS
    approximate_options: tuple[str, ...] = ("alpha", "term_ratio", "bound_share", "query_cut", "heap_factor")

    def __init__(self, engine: _index.Index):
        if not isinstance(engine, _index.Index):
            raise TypeError("use InvertedIndex.build, InvertedIndex.from_vectors or InvertedIndex.load")
        self._engine = engine
        self._doc_ids: np.ndarray | None = None
        self._meta: dict | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        docs_csr,
        doc_ids=None,
        *,
        vocab_size: int | None = None,
        block_size: int = 64,
        scale: float = 0.0,
        threads: int = 1,
        reorder: str | BPOptions | None = None,
        doc_order=None,
        order_kind: str = "given",
        meta: dict | None = None,
        calibration_queries=None,
        **options: Any,
    ) -> InvertedIndex:
        """Index documents given as scipy sparse rows or a tuple (indptr, indices, data).

        `doc_ids`: one unique string per row (default: "0", "1", ...). `vocab_size`: defaults
        to the matrix width, or max term id + 1 for a tuple. `block_size`: documents per
        doc-range block of the block-max metadata (power of two, 8..65536). `scale`: the
        quantization scale of the impacts, stored in the file (0 = unknown). Codec options:
        `codec="simdbp128"` (the only codec) and `dense_min_df` (terms with at least this many
        postings store a block-max row; default: one per four doc-range blocks). `pass_entries`: the
        postings transposed at once (default 2^26, 512 MB), bounding the build's memory beyond
        its input and the index; fewer mean more passes over the input, the same index.

        `reorder`: None (index the rows in input order), "bp" or a `BPOptions` (reorder them
        by recursive graph bisection first, with `threads`), or "auto" ("bp" from BMP_MIN_DOCS
        documents on, where it pays; else None). The keyword options `bp_iterations`,
        `bp_min_partition`, `bp_max_depth`, `bp_min_df`, `bp_max_df_ratio` and `bp_seed` set the
        `BPOptions` fields). `doc_order`: a permutation of the rows to index them in instead
        (element i: the row placed at position i, as `bp_order` returns), and `order_kind`
        what made it, as the file records it: "given" or "bp" (`bp_order`'s). `meta`: what the
        documents are (a JSON object: model, collection, quantization; a vector file's `meta`),
        stored in the file and read back as `InvertedIndex.meta`. `calibration_queries`: query
        rows from which to derive the approximate presets (`calibrate_presets`); none by default.
        """
        indptr, indices, data, width = _as_csr(docs_csr, "docs")
        n_docs = len(indptr) - 1
        bp_options = _bp_options(reorder, options, n_docs)
        codec_options = options
        unknown = sorted(set(codec_options) - set(CODEC_OPTIONS))
        if unknown:
            raise TypeError(
                f"unknown codec option(s) {unknown}; known: {sorted(CODEC_OPTIONS)} (BP: {sorted(_BP_KEYWORDS)})"
            )
        if bp_options is not None and doc_order is not None:
            raise ValueError("give either reorder or doc_order, not both")
        if codec_options.get("codec", "simdbp128") != "simdbp128":
            raise ValueError(f"codec must be 'simdbp128', not {codec_options['codec']!r}")
        dense_min_df = codec_options.get("dense_min_df")
        dense_min_df = 0 if dense_min_df is None else _positive_int(dense_min_df, "dense_min_df")
        if n_docs > np.iinfo(np.int32).max:
            raise ValueError("at most 2^31 - 1 documents are supported")
        vocab_size = _vocab_size(vocab_size, width, indices)
        indices = _term_ids(indices, vocab_size, "docs")
        data = _impacts(data)
        offsets, blob = _encode_doc_ids(doc_ids, n_docs)
        block_size = _positive_int(block_size, "block_size")
        if block_size < 8 or block_size > 65536 or block_size & (block_size - 1):
            raise ValueError(f"block_size must be a power of two in [8, 65536], not {block_size}")
        scale = float(scale)
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"scale must be a non-negative number (0 = unknown), not {scale}")
        threads = _positive_int(threads, "threads")
        kind = "given"
        if bp_options is not None:
            chunk, size = (indptr, indices, data), (n_docs, len(indices))
            doc_order = bp_order_chunks(
                [chunk], vocab_size=vocab_size, size=size, block_size=block_size, threads=threads, options=bp_options
            )
            kind = "bp"
        elif doc_order is not None:
            doc_order = _doc_order(doc_order, n_docs)
            if order_kind not in ("given", *REORDERINGS):
                raise ValueError(f"order_kind must be 'given' or one of {list(REORDERINGS)}, not {order_kind!r}")
            kind = order_kind
        layout = (block_size, dense_min_df, scale, threads, doc_order, kind)
        passes = (
            {}
            if "pass_entries" not in options
            else {"pass_entries": _positive_int(options["pass_entries"], "pass_entries")}
        )
        for key, source in ((PRESETS_KEY, "calibrate_presets"), (CLUSTERS_KEY, "build_clusters")):
            if meta and key in meta:
                raise ValueError(f"meta must not hold {key!r}: it comes from {source}")
        metadata = json.dumps(meta or {}, allow_nan=False, sort_keys=True)  # ASCII: \u escapes
        engine = _index.Index.build(
            indptr, indices, data, vocab_size, offsets, blob, *layout, **passes, metadata=metadata
        )
        index = cls(engine)
        if calibration_queries is not None:
            index.calibrate_presets(calibration_queries, threads=threads)
        return index

    @classmethod
    def from_vectors(cls, vectors, **options: Any) -> InvertedIndex:
        """Index a quantized `SparseVectors`; its scale comes from meta["quantization"]."""
        if not vectors.is_quantized:
            raise ValueError("vectors hold float weights: quantize them first (splade_core.sparse.quantize)")
        scale = float(vectors.meta.get("quantization", {}).get("scale", 0.0))
        return cls.build(
            (vectors.indptr, vectors.indices, vectors.data),
            vectors.ids,
            vocab_size=vectors.vocab_size,
            scale=scale,
            meta=vectors.meta,
            **options,
        )

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        *,
        reorder: str | BPOptions | None = None,
        threads: int = 1,
        block_size: int = 64,
        **options: Any,
    ) -> InvertedIndex:
        """Index a quantized sparse-vector file (`splade quantize`'s output). With `reorder`,
        the BP order is computed first from the file read a chunk of rows at a time, and only
        then is the file loaded for the build: the peak is the larger of BP's forward index
        (2 bytes a posting, twice) and the build's input and index, never their sum."""
        from ..sparse.vectors import VectorFile

        with VectorFile(path) as file:
            if not file.is_quantized:
                raise SpladeError(f"{file.path}: the index takes quantized vectors (run `splade quantize` first)")
            bp_options = _bp_options(reorder, options, file.n_rows)
            order = None
            if bp_options is not None:
                rows = ((c.indptr, c.indices, c.data) for c in file.chunks())
                order = bp_order_chunks(
                    rows,
                    vocab_size=file.vocab_size,
                    size=(file.n_rows, file.nnz),
                    block_size=block_size,
                    threads=threads,
                    options=bp_options,
                )
            vectors = file.read_all()
        kind = {} if order is None else {"doc_order": order, "order_kind": "bp"}
        return cls.from_vectors(vectors, threads=threads, block_size=block_size, **kind, **options)

    # ---- persistence --------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the index atomically (temp file beside `path`, fsync, rename), first removing
        the temporary files that a killed earlier writer of `path` left."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        self._engine.save(str(path))

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> InvertedIndex:
        """Memory-map an index file. Header, section table and every offset are always checked;
        `verify` also checks each section's XXH64 checksum (a full read of the file). Without it,
        a corrupted posting payload cannot crash a search but may give wrong results."""
        index = cls(_index.Index.load(os.fspath(path), bool(verify)))
        index._read_meta(f"{path} (its metadata)")
        return index

    # ---- search -------------------------------------------------------------------------

    def search(
        self,
        queries_csr,
        k: int = 10,
        algorithm: str = "default",
        threads: int = 1,
        *,
        alpha: float = 1.0,
        term_ratio: float = 1.0,
        bound_share: float = 1.0,
        query_cut: int | None = None,
        heap_factor: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of every query row; see the module docstring for scores, ties and padding.
        `algorithm` may also name a calibrated approximate preset ("approx-95", "approx-99"),
        which sets its options itself (so no approximate option is given); past PRESET_MAX_K a
        preset searches exactly (`exhaustive`). "clustered" takes `query_cut` (default 10) and
        `heap_factor` (default 1.0), and no other approximate option."""
        preset = algorithm in PRESETS
        clustered_options = {"query_cut": query_cut, "heap_factor": heap_factor}
        if preset:
            given = (alpha, term_ratio, bound_share, query_cut, heap_factor) != (1.0, 1.0, 1.0, None, None)
            if given:
                raise ValueError(f"preset {algorithm!r} sets its options itself: give no approximate option")
            options = self.preset(algorithm).search_options
            algorithm = options.pop("algorithm")
            alpha, bound_share = options.pop("alpha", 1.0), options.pop("bound_share", 1.0)
            clustered_options.update(options)
        elif algorithm != "default" and algorithm not in (*ALGORITHMS, "clustered"):
            raise ValueError(
                f"unknown algorithm {algorithm!r}; choose 'default', one of {ALGORITHMS}, 'clustered' "
                f"or a preset {list(PRESETS)}"
            )
        k = _positive_int(k, "k")
        if k > np.iinfo(np.int32).max:
            raise ValueError("k must be below 2^31")
        if algorithm == "default":
            algorithm = self.default_algorithm(k)
        elif preset and k > PRESET_MAX_K:  # approximate search is slower than exact search there
            algorithm, alpha, bound_share = "exhaustive", 1.0, 1.0
            clustered_options = {"query_cut": None, "heap_factor": None}
        query_cut, heap_factor = self._clustered_options(algorithm, **clustered_options)
        alpha, term_ratio, bound_share = float(alpha), float(term_ratio), float(bound_share)
        for name, value in (("alpha", alpha), ("term_ratio", term_ratio), ("bound_share", bound_share)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], not {value}")
        if algorithm == "exhaustive" and alpha != 1.0:
            raise ValueError("alpha applies to the pruning algorithms (bmp, maxscore), not exhaustive")
        if algorithm != "bmp" and bound_share != 1.0:
            raise ValueError("bound_share applies to bmp only")
        if algorithm == "clustered" and (alpha, term_ratio) != (1.0, 1.0):
            raise ValueError("clustered search takes query_cut and heap_factor, not alpha or term_ratio")
        indptr, indices, data = _query_csr(queries_csr)
        weights, factor = _query_weights(indptr, data)
        doc_idx, scores = self._engine.search(
            indptr,
            indices,
            weights,
            k,
            algorithm,
            _positive_int(threads, "threads"),
            alpha,
            term_ratio,
            bound_share,
            query_cut,
            heap_factor,
        )
        if factor is not None:
            scores = (scores / factor[:, None]).astype(np.float32)
        return doc_idx, scores

    def _clustered_options(self, algorithm: str, query_cut, heap_factor) -> tuple[int, float]:
        """The (query_cut, heap_factor) the engine gets: checked for "clustered", else refused."""
        if algorithm != "clustered":
            if (query_cut, heap_factor) != (None, None):
                raise ValueError("query_cut and heap_factor apply to clustered search only")
            return 10, 1.0
        if not self.has_clusters:
            raise ValueError("this index has no clusters for clustered search: build them first (build_clusters)")
        query_cut = 10 if query_cut is None else _positive_int(query_cut, "query_cut")
        heap_factor = 1.0 if heap_factor is None else float(heap_factor)
        if query_cut > np.iinfo(np.uint32).max:
            raise ValueError("query_cut must be below 2^32")
        if not 0.0 < heap_factor <= 1.0:
            raise ValueError(f"heap_factor must be in (0, 1], not {heap_factor}")
        return query_cut, heap_factor

    def build_clusters(self, options: ClusterOptions | None = None, *, threads: int = 1) -> None:
        """Add the clustered sections of approximate search (see `splade_core.index.clusters`),
        which `save` then writes; their settings are kept in the metadata (CLUSTERS_KEY). Needs
        8-bit impacts. Replaces clusters built before."""
        options = ClusterOptions() if options is None else options
        stats = self._engine.stats()
        n_postings = options.n_postings(stats["postings"], stats["terms"])
        engine = self._engine.with_clusters(
            n_postings,
            options.max_share,
            options.centroid_fraction,
            options.doc_cut,
            options.summary_energy,
            options.min_cluster,
            options.seed,
            _positive_int(threads, "threads"),
        )
        meta = {**self.meta, CLUSTERS_KEY: {**options.to_json(), "n_postings": n_postings}}
        self._engine = engine.with_metadata(json.dumps(meta, allow_nan=False, sort_keys=True))
        self._meta = meta

    @property
    def has_clusters(self) -> bool:
        """Whether the index holds the clustered sections of `algorithm="clustered"`."""
        return self._engine.n_clusters > 0

    def calibrate_presets(self, queries, *, threads: int = 1, clusters: bool | None = None) -> dict[str, Preset]:
        """Derive the approximate presets of this index (see `splade_core.index.presets`) from
        calibration queries (query rows, as `search` takes them), and keep them in its metadata,
        which `save` writes. Returns them. `clusters`: whether to calibrate clustered search beside
        bmp, building the clustered sections first if the index has none (None: from
        CLUSTERS_MIN_DOCS documents on); sections built here that no preset uses are dropped again."""
        threads = _positive_int(threads, "threads")
        clustered = bool(clusters) or (clusters is None and len(self) >= CLUSTERS_MIN_DOCS)
        unclustered = None
        if clustered and not self.has_clusters:
            unclustered = (self._engine, self._meta)
            self.build_clusters(threads=threads)
        presets = calibrate(self, queries, threads=threads, clustered=clustered)
        if unclustered is not None and all(p.algorithm != "clustered" for p in presets.values()):
            self._engine, self._meta = unclustered
        meta = {**self.meta, PRESETS_KEY: {name: preset.to_json() for name, preset in presets.items()}}
        self._engine = self._engine.with_metadata(json.dumps(meta, allow_nan=False, sort_keys=True))
        self._meta = meta
        return presets

    @property
    def presets(self) -> dict[str, Preset]:
        """The calibrated approximate presets (name -> Preset); {} if none were calibrated."""
        return {name: Preset.from_json(value) for name, value in self.meta.get(PRESETS_KEY, {}).items()}

    def preset(self, name: str) -> Preset:
        presets = self.presets
        if name not in presets:
            raise ValueError(
                f"this index holds no calibrated preset {name!r}: calibrate it first "
                "(`splade index --calibration-queries`, InvertedIndex.calibrate_presets)"
            )
        return presets[name]

    def default_algorithm(self, k: int = 10) -> str:
        """The exact algorithm that `search(algorithm="default")` runs at this k: "bmp" when
        the documents were reordered (`reorder="bp"` or a given `doc_order`) and k is at most
        `bmp_max_k` of the collection's size (BMP_MAX_K); else "exhaustive"."""
        reordered = self._engine.doc_order() is not None
        return "bmp" if reordered and k <= bmp_max_k(self._engine.n_docs) else "exhaustive"

    # ---- description --------------------------------------------------------------------

    @property
    def doc_ids(self) -> np.ndarray:
        """External doc id of every doc_idx (a NumPy array of str, decoded once)."""
        if self._doc_ids is None:
            offsets = self._engine.doc_id_offsets()
            blob = self._engine.doc_id_bytes().tobytes()
            n = len(offsets) - 1
            width = max(1, int(np.diff(offsets).max())) if n > 0 else 1  # bytes bound characters
            ids = np.empty(n, dtype=f"<U{width}")
            # A chunk of ids at a time: Python strings for all 8.8 M ids of MS MARCO at once would
            # hold ~1.3 GB beside the array (the retrieve job declares input-sized memory).
            for start in range(0, n, _DOC_ID_CHUNK):
                bounds = offsets[start : min(n, start + _DOC_ID_CHUNK) + 1].tolist()
                try:
                    ids[start : start + len(bounds) - 1] = [
                        blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])
                    ]
                except UnicodeDecodeError as exc:
                    raise IndexFormatError(f"doc ids are not valid UTF-8 ({exc})") from None
            self._doc_ids = ids
        return self._doc_ids

    def to_doc_ids(self, doc_idx: np.ndarray) -> np.ndarray:
        """Map a doc_idx array from `search` to doc ids; padding (-1) becomes ""."""
        doc_idx = np.asarray(doc_idx)
        ids = self.doc_ids
        out = np.full(doc_idx.shape, "", dtype=ids.dtype if len(ids) else str)
        hit = doc_idx >= 0
        out[hit] = ids[doc_idx[hit]]
        return out

    @property
    def doc_order(self) -> np.ndarray | None:
        """The rows in internal order (uint32, read-only; element i: the row indexed as internal
        doc i), or None when the index keeps the input order."""
        return self._engine.doc_order()

    @property
    def vocab_size(self) -> int:
        return self._engine.vocab_size

    @property
    def meta(self) -> dict[str, Any]:
        """What the documents are, as given at build time (the indexed vector file's `meta`:
        model, collection, quantization; {} if nothing was given)."""
        if self._meta is None:
            self._read_meta("the index's metadata")
        return self._meta

    def _read_meta(self, where: str) -> None:
        try:
            meta = parse_json(self._engine.metadata() or b"{}", where)
        except SpladeError as exc:
            raise IndexFormatError(str(exc)) from None
        if not isinstance(meta, dict):
            raise IndexFormatError(f"{where}: not a JSON object")
        presets = meta.get(PRESETS_KEY, {})
        if not isinstance(presets, dict):
            raise IndexFormatError(f"{where}: {PRESETS_KEY} is not a JSON object")
        for name, value in presets.items():
            try:
                Preset.from_json(value)
            except ValueError as exc:
                raise IndexFormatError(f"{where}: preset {name!r}: {exc}") from None
        self._meta = meta

    @property
    def scale(self) -> float:
        """Quantization scale stored with the index (0 = unknown)."""
        return self._engine.scale

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: docs, terms, postings, bytes per section, total file bytes, and
        `doc_order`: None (input order), "bp" (reordered by graph bisection) or "given"."""
        stats = self._engine.stats()
        stats["bytes_per_posting"] = stats["total_bytes"] / max(1, stats["postings"])
        return stats

    def __len__(self) -> int:
        return self._engine.n_docs

    def __repr__(self) -> str:
        s = self._engine.stats()
        order = f", doc_order={s['doc_order']}" if s["doc_order"] else ""
        return (
            f"InvertedIndex(docs={s['docs']}, terms={s['terms']}, postings={s['postings']}, "
            f"impacts={s['impact_dtype']}, block_size={s['block_size']}{order}, bytes={s['total_bytes']})"
        )


# ---- input coercion (explicit dtypes, readable errors) ------------------------------------


def _bp_options(reorder, options: dict, n_docs: int) -> BPOptions | None:
    """The BPOptions that `reorder` (None, "bp", "auto" or a BPOptions) and the bp_* keywords of
    `options` ask for, for `n_docs` documents; those keywords are taken out of `options`."""
    bp_keywords = {_BP_KEYWORDS[key]: options.pop(key) for key in list(options) if key in _BP_KEYWORDS}
    if reorder == AUTO_REORDER:
        return BPOptions(**bp_keywords) if n_docs >= BMP_MIN_DOCS else None
    if isinstance(reorder, BPOptions):
        if bp_keywords:
            raise TypeError("give BP settings either as a BPOptions or as bp_* keywords, not both")
        return reorder
    if reorder is None:
        if bp_keywords:
            raise TypeError(f"bp_* options {sorted(bp_keywords)} need reorder='bp'")
        return None
    if reorder in REORDERINGS:
        return BPOptions(**bp_keywords)
    raise ValueError(f"reorder must be None, 'bp', 'auto' or a BPOptions, not {reorder!r}")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _as_csr(obj, what: str):
    """(indptr int64, indices, data, width or None) from scipy sparse, a 3-tuple or SparseVectors."""
    if sp.issparse(obj):
        csr = sp.csr_array(obj)
        return _indptr(csr.indptr, len(csr.indices), what), csr.indices, csr.data, csr.shape[1]
    if isinstance(obj, (tuple, list)) and len(obj) == 3:
        indptr, indices, data = (np.asarray(a) for a in obj)
        width = None
    elif all(hasattr(obj, name) for name in ("indptr", "indices", "data")):
        indptr, indices, data = np.asarray(obj.indptr), np.asarray(obj.indices), np.asarray(obj.data)
        width = getattr(obj, "vocab_size", None)
    else:
        raise TypeError(f"{what} must be a scipy sparse matrix or a tuple (indptr, indices, data)")
    if indices.ndim != 1 or data.ndim != 1 or len(indices) != len(data):
        raise ValueError(f"{what}: indices and data must be one-dimensional and of equal length")
    return _indptr(indptr, len(indices), what), indices, data, width


def _doc_order(order, n_docs: int) -> np.ndarray:
    """A permutation of range(n_docs) as uint32 (the engine checks that it is one)."""
    order = np.asarray(order)
    if order.ndim != 1 or order.dtype.kind not in "iu":
        raise ValueError("doc_order must be a one-dimensional integer array")
    if len(order) != n_docs:
        raise ValueError(f"doc_order holds {len(order)} entries for {n_docs} documents")
    if len(order) and (int(order.min()) < 0 or int(order.max()) >= n_docs):
        raise ValueError(f"doc_order must be a permutation of range({n_docs})")
    return np.ascontiguousarray(order, dtype=np.uint32)


def _query_csr(obj) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query CSR arrays with few checks here: the engine validates indptr (cheap per call)."""
    if sp.issparse(obj):
        if obj.format != "csr":
            obj = obj.tocsr()
        indptr, indices, data = obj.indptr, obj.indices, obj.data
    elif isinstance(obj, (tuple, list)) and len(obj) == 3:
        indptr, indices, data = (np.asarray(a) for a in obj)
    elif all(hasattr(obj, name) for name in ("indptr", "indices", "data")):
        indptr, indices, data = np.asarray(obj.indptr), np.asarray(obj.indices), np.asarray(obj.data)
    else:
        raise TypeError("queries must be a scipy sparse matrix or a tuple (indptr, indices, data)")
    if indptr.ndim != 1 or len(indptr) < 1 or indptr.dtype.kind not in "iu":
        raise ValueError("queries: indptr must be a one-dimensional integer array of n_rows + 1 offsets")
    if indices.ndim != 1 or data.ndim != 1 or len(indices) != len(data):
        raise ValueError("queries: indices and data must be one-dimensional and of equal length")
    if indices.dtype.kind not in "iu" or (indices.dtype.kind == "u" and indices.dtype.itemsize == 8):
        raise ValueError(f"queries: term ids must be integers below 2^63, not {indices.dtype}")
    return np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(indices, dtype=np.int64), data


def _indptr(indptr, nnz: int, what: str) -> np.ndarray:
    indptr = np.asarray(indptr)
    if indptr.ndim != 1 or len(indptr) < 1 or indptr.dtype.kind not in "iu":
        raise ValueError(f"{what}: indptr must be a one-dimensional integer array of n_rows + 1 offsets")
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"{what}: indptr must run from 0 to the number of entries ({nnz})")
    if len(indptr) > 1 and (np.diff(indptr) < 0).any():
        raise ValueError(f"{what}: indptr must be non-decreasing")
    return indptr


def _vocab_size(vocab_size, width, indices) -> int:
    if vocab_size is None:
        if width is not None:
            vocab_size = int(width)
        else:
            vocab_size = int(indices.max()) + 1 if len(indices) else 0
    vocab_size = int(vocab_size)
    if not 0 <= vocab_size < 2**32:
        raise ValueError(f"vocab_size must be in [0, 2^32), not {vocab_size}")
    return vocab_size


def _term_ids(indices, vocab_size: int, what: str) -> np.ndarray:
    if indices.dtype.kind not in "iu":
        raise ValueError(f"{what}: term ids must be integers, not {indices.dtype}")
    if len(indices):
        low, high = int(indices.min()), int(indices.max())
        if low < 0:
            raise ValueError(f"{what}: negative term id {low}")
        if high >= vocab_size:
            raise ValueError(f"{what}: term id {high} >= vocab_size {vocab_size}")
    if indices.dtype.kind == "i" and indices.dtype.itemsize == 4:
        return np.ascontiguousarray(indices).view(np.uint32)  # checked non-negative: same bits
    return np.ascontiguousarray(indices, dtype=np.uint32)


def _impacts(data) -> np.ndarray:
    if data.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(data)
    if data.dtype.kind not in "iu":
        raise ValueError(
            f"document impacts must be integers (uint8/uint16), not {data.dtype}; "
            "quantize float weights first (splade_core.sparse.quantize)"
        )
    if len(data) and int(data.min()) < 0:
        raise ValueError(f"document impacts must be non-negative (found {int(data.min())})")
    high = int(data.max()) if len(data) else 0
    if high > _MAX_WEIGHT:
        raise ValueError(f"document impacts must fit uint16 (found {high})")
    return np.ascontiguousarray(data, dtype=np.uint8 if high <= 255 else np.uint16)


def _encode_doc_ids(doc_ids, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all ids, concatenated, and the n_docs + 1 byte offsets into them."""
    if doc_ids is None:
        ids = list(map(str, range(n_docs)))
    else:
        ids = np.asarray(doc_ids).tolist() if isinstance(doc_ids, np.ndarray) else list(doc_ids)
        ids = [i if isinstance(i, str) else str(i) for i in ids]
    if len(ids) != n_docs:
        raise ValueError(f"{len(ids)} doc ids for {n_docs} documents")
    if len(set(ids)) != n_docs:
        raise ValueError("doc ids must be unique")
    joined = "".join(ids)
    blob = joined.encode("utf-8")
    if len(blob) == len(joined):  # ASCII: characters are bytes
        lengths = np.fromiter(map(len, ids), dtype=np.uint64, count=n_docs)
    else:
        lengths = np.fromiter((len(i.encode("utf-8")) for i in ids), dtype=np.uint64, count=n_docs)
    offsets = np.zeros(n_docs + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.frombuffer(blob, dtype=np.uint8)


def _query_weights(indptr: np.ndarray, data) -> tuple[np.ndarray, np.ndarray | None]:
    """int64 weights (the engine checks the range 0..65535), plus the per-row fixed-point
    factor when the weights were floats."""
    if data.dtype.kind in "iu":
        if data.dtype.kind == "u" and data.dtype.itemsize == 8 and len(data) and data.max() > _MAX_WEIGHT:
            raise ValueError(f"queries: integer weights must be in [0, 65535] (found {int(data.max())})")
        return np.ascontiguousarray(data, dtype=np.int64), None
    if data.dtype.kind != "f":
        raise ValueError(f"queries: weights must be integers or floats, not {data.dtype}")
    data = np.asarray(data, dtype=np.float64)
    if len(data) and not np.isfinite(data).all():
        raise ValueError("queries: weights contain NaN or infinity")
    if len(data) and data.min() < 0:
        raise ValueError(f"queries: weights must be non-negative (found {data.min():g})")
    n_rows = len(indptr) - 1
    if len(indptr) and (indptr[0] != 0 or indptr[-1] != len(data) or (np.diff(indptr) < 0).any()):
        raise ValueError("queries: indptr must run from 0 to the number of entries and never decrease")
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    row_max = np.zeros(n_rows)
    np.maximum.at(row_max, rows, data)
    factor = np.divide(_FLOAT_FIXED_POINT, row_max, out=np.zeros(n_rows), where=row_max > 0)
    weights = np.rint(data * factor[rows]).astype(np.int64)
    return weights, np.where(factor > 0, factor, 1.0)
