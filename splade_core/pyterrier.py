"""PyTerrier transformers over this project's artefacts, so that its indexes take part in
`pt.Experiment` pipelines beside other systems (optional: `pip install 'splade-core[pyterrier]'`,
PyTerrier >= 1.0 without its Java extra; nothing here starts a JVM).

* `SpladeRetriever`: the top k of an index built by `splade index`, for queries given as
  `query_toks` (dict token → weight, PyTerrier's learned-sparse column, as pyt_splade writes it)
  or as `query` texts encoded by a model. Integer weights (Python or NumPy ints, as
  `SpladeQueryEncoder` and quantized query files hold) score exactly; float weights are scored
  in 16-bit fixed point, as `splade search` scores a float query file. The rankings are
  `splade search`'s: the same scores, ties to the smaller document row.
* `SpladeQueryEncoder`: `query` → `query_toks`, the vectors of `splade encode --side query`
  then `splade quantize` (same batches, same rounding: bit for bit when it encodes the same
  queries in the same order with the same batch size).
* `BM25Retriever`: `splade bm25`'s run (bm25s, Lucene variant) as a transformer, a baseline
  that needs no Java.
* `collection_topics`, `collection_qrels`: a collection's queries and judgments as PyTerrier
  frames.

Results are PyTerrier's: one row per retrieved document with the input row's columns, then
`docno`, `score` (float64) and `rank` (from `pt.model.FIRST_RANK`, 0), best first; a query that
shares no term with any document has no row.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import SpladeError
from .formats.vocabulary import Vocabulary
from .index import InvertedIndex
from .index.inverted_index import DEFAULT_ALGORITHM
from .io import file_problem
from .registry import BM25_B, BM25_K1, BUNDLED_MODEL, FINGERPRINT_KEY, PRECISIONS, check_device
from .sparse.quantize import DEFAULT_SCALE, IMPACT_DTYPES, quantize_csr, scale_problem
from .sparse.vectors import check_pairing

try:
    import pyterrier as pt
except ImportError:  # pragma: no cover - the extra is missing
    raise ImportError(
        "splade_core.pyterrier needs PyTerrier: pip install 'splade-core[pyterrier]' (pyterrier>=1.0, no Java)"
    ) from None

__all__ = ["BM25Retriever", "SpladeQueryEncoder", "SpladeRetriever", "collection_qrels", "collection_topics"]

QUERY_TOKS = "query_toks"
_MAX_WEIGHT = 65535  # the index's largest integer query weight


class SpladeQueryEncoder(pt.Transformer):
    """`query` → `query_toks` (dict token → weight, heaviest first) with a SPLADE model's query
    side (`Splade.encoder_for("query")`): `model` is a folder, an HF id, `bundled/<name>` or a
    loaded `Splade`; it is loaded on first use.

    Weights are quantized as `splade quantize --scale --dtype` does (int weights, zeros dropped);
    `scale=None` keeps the float weights. Texts are encoded as `splade encode` encodes them:
    windows of 4096 texts, sorted by length inside a window and batched by `batch_size`."""

    def __init__(
        self,
        model: Any = BUNDLED_MODEL,
        *,
        scale: float | None = DEFAULT_SCALE,
        dtype: str = "uint8",
        batch_size: int = 32,
        max_length: int | None = None,
        device: str = "cpu",
        precision: str = "fp32",
    ):
        if dtype not in IMPACT_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(IMPACT_DTYPES)}, not {dtype!r}")
        if scale is not None:
            if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)):
                raise ValueError(f"scale must be a number or None, not {scale!r}")
            if (problem := scale_problem(float(scale), dtype)) is not None:
                raise ValueError(f"scale {problem}")
        _check_positive(batch_size, "batch_size")
        if max_length is not None:
            _check_positive(max_length, "max_length")
        if (problem := check_device(device)) is not None:
            raise ValueError(problem)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.model = model
        self.scale = None if scale is None else float(scale)
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.max_length = max_length
        self.device = device
        self.precision = precision
        self._splade = None if isinstance(model, (str, os.PathLike)) else model
        self._tokens: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"SpladeQueryEncoder({_model_name(self.model)!r}, scale={self.scale!r}, dtype={self.dtype!r})"

    @property
    def splade(self):
        """The `Splade` model (loaded on first use)."""
        if self._splade is None:
            from .model import Splade

            self._splade = Splade.load(self.model)
        return self._splade

    @property
    def tokens(self) -> np.ndarray:
        """The token string of every term id, as the query tokenizer numbers them."""
        if self._tokens is None:
            tokenizer = self.splade.encoder_for("query")[0].tokenizer
            self._tokens = np.asarray(tokenizer.convert_ids_to_tokens(list(range(self.splade.vocab_size))), object)
        return self._tokens

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR arrays (indptr int64, term ids, weights) of `texts`: impacts when quantizing."""
        from .encode import EncodeOptions, encode_tokens, tokenize_texts

        texts = list(texts)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise SpladeError(f"query {row} is a {type(text).__name__}, not a text")
        encoder, model_max_length = self.splade.encoder_for("query")
        encoder.to(self.device)
        max_length = self.max_length or model_max_length
        projection = encoder.projection(self.precision)
        window = EncodeOptions().window
        parts = [sp.csr_array((np.zeros(0, np.float32), np.zeros(0, np.int32), [0]), shape=(0, self.splade.vocab_size))]
        for start in range(0, len(texts), window):  # the windows of `splade encode`: the same batches
            tokens = tokenize_texts(encoder, texts[start : start + window], max_length)
            indptr, indices, data = encode_tokens(
                encoder, tokens, self.batch_size, self.precision, projection=projection
            )
            parts.append(sp.csr_array((data, indices, indptr), shape=(len(indptr) - 1, self.splade.vocab_size)))
        rows = sp.vstack(parts, format="csr")
        indptr, indices, data = rows.indptr.astype(np.int64), rows.indices, rows.data
        if self.scale is not None:
            indptr, indices, data = quantize_csr(indptr, indices, data, self.scale, self.dtype)
        return indptr, indices, data

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.columns(inp, includes=["query"])
        if not len(inp):
            return inp.assign(**{QUERY_TOKS: pd.Series(dtype=object, index=inp.index)})
        indptr, indices, data = self.encode(inp["query"].tolist())
        tokens = self.tokens
        terms, weights = indices.tolist(), data.tolist()  # weights: Python ints (quantized) or floats
        toks = []
        for begin, end in itertools.pairwise(indptr.tolist()):
            order = sorted(range(begin, end), key=lambda at: (-weights[at], terms[at]))
            toks.append({tokens[terms[at]]: weights[at] for at in order})
        return inp.assign(**{QUERY_TOKS: toks})


class SpladeRetriever(pt.Transformer):
    """The top `k` documents of each query from an index built by `splade index` (a path, or a
    loaded `InvertedIndex`), with `splade search`'s scores and order.

    Queries are the `query_toks` column (dict → weight; a key is a token string, numbered by
    `model`'s tokenizer, or an int term id) or, when the frame has no such column and `model` is
    given, the `query` column encoded by `query_encoder()`. `algorithm` and `threads` are
    `splade search --algorithm --threads` (every algorithm is exact)."""

    def __init__(
        self,
        index: Any,
        model: Any = None,
        *,
        k: int = 1000,
        algorithm: str = "default",
        threads: int = 1,
        verify: bool = True,
        allow_model_mismatch: bool = False,
    ):
        self.k = _check_positive(k, "k")
        self.threads = _check_positive(threads, "threads")
        self.algorithm = algorithm  # "default": the index's default_algorithm(k), resolved per search
        if algorithm != DEFAULT_ALGORITHM and algorithm not in InvertedIndex.algorithms:
            raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {InvertedIndex.algorithms}")
        if isinstance(index, InvertedIndex):
            self.index, self.path = index, None
        else:
            self.path = os.fspath(index)
            self.index = _load_index(self.path, verify)
        self.model = model
        self.allow_model_mismatch = allow_model_mismatch
        self._encoder: SpladeQueryEncoder | None = None
        self._vocabulary: Vocabulary | None = None

    def __repr__(self) -> str:
        return f"SpladeRetriever({self.path or self.index!r}, k={self.k})"

    @property
    def scale(self) -> float:
        """The quantization scale of the index's documents (what its queries are quantized by)."""
        scale = self.index.scale
        if not scale:
            raise SpladeError(f"{self._name}: the index does not record its quantization scale; give scale=")
        return scale

    def query_encoder(self, model: Any = None, **options: Any) -> SpladeQueryEncoder:
        """A `SpladeQueryEncoder` of `model` (default: this retriever's) that quantizes queries as
        the index's documents were: their scale and impact type, unless `options` set others.
        Without options and model, the one this retriever encodes `query` texts with."""
        if model is None and not options and self._encoder is not None:
            return self._encoder
        model = self.model if model is None else model
        if model is None:
            raise SpladeError(f"{self._name}: no model to encode queries with; give SpladeRetriever(..., model=)")
        settings = {"dtype": self.index.stats()["impact_dtype"], **options}
        if "scale" not in options:
            settings["scale"] = self.scale
        encoder = SpladeQueryEncoder(model, **settings)
        if model is self.model and not options:
            self._check_model(encoder.splade)
            self._encoder = encoder
        return encoder

    def _check_model(self, splade) -> None:
        """The index's documents were encoded by this model (its fingerprint, where the index
        records one), unless `allow_model_mismatch` (`check_pairing`)."""
        from .model.identity import fingerprint

        meta = {FINGERPRINT_KEY: fingerprint(splade, splade.pooling)}
        if isinstance(self.model, (str, os.PathLike)):  # a name to compare where the index has no fingerprint
            meta["model"] = os.fspath(self.model)
        queries = SimpleNamespace(vocab_size=splade.vocab_size, meta=meta)
        where = f"model {_model_name(self.model)}"
        check_pairing(queries, self.index, where, self._name, self.allow_model_mismatch, "allow_model_mismatch=True")

    def search(self, query: Any, qid: str = "1", sort: bool = True) -> pd.DataFrame:
        """One query: a text (encoded by the model) or a dict token → weight."""
        if isinstance(query, dict):
            return self.transform(pd.DataFrame({"qid": [qid], QUERY_TOKS: [query]}))
        return super().search(query, qid, sort)

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        with pt.validate.any(inp) as v:
            v.query_frame(extra_columns=[QUERY_TOKS], mode="query_toks")
            if self.model is not None:
                v.query_frame(extra_columns=["query"], mode="query text")
        if not len(inp):
            return _results(inp, self.index.doc_ids, np.zeros((0, 1), np.int32), np.zeros((0, 1)))
        if QUERY_TOKS in inp.columns:
            toks = inp[QUERY_TOKS].tolist()
        else:
            toks = self.query_encoder().transform(inp[["query"]])[QUERY_TOKS].tolist()
        doc_idx, scores = self._search(inp["qid"].tolist(), toks)
        return _results(inp, self.index.doc_ids, doc_idx, scores)

    @property
    def _name(self) -> str:
        return self.path or repr(self.index)

    def _term_ids(self, tokens: list[str]) -> np.ndarray:
        if self._vocabulary is None:
            if self.model is None:
                raise SpladeError(
                    f"{self._name}: {QUERY_TOKS} name tokens, but no model numbers them: give SpladeRetriever(model=)"
                )
            vocabulary = Vocabulary(self.query_encoder().tokens, _model_name(self.model))
            vocabulary.check_size(self.index.vocab_size, self._name)
            self._vocabulary = vocabulary
        return self._vocabulary.ids_of(tokens)

    def _search(self, qids: list, toks: list) -> tuple[np.ndarray, np.ndarray]:
        """doc_idx and scores [queries, k]: integer rows and float rows searched apart."""
        rows = [self._query_row(qid, query) for qid, query in zip(qids, toks)]
        doc_idx = np.full((len(rows), self.k), -1, dtype=np.int32)
        scores = np.zeros((len(rows), self.k))
        for integer in (True, False):
            group = [at for at, (_, _, is_int) in enumerate(rows) if is_int == integer]
            if not group:
                continue
            lengths = [len(rows[at][0]) for at in group]
            indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            indices = np.concatenate([rows[at][0] for at in group] + [np.zeros(0, np.int64)])
            data = np.concatenate([rows[at][1] for at in group] + [np.zeros(0, np.int64 if integer else np.float64)])
            found, found_scores = self.index.search(
                (indptr, indices, data), k=self.k, algorithm=self.algorithm, threads=self.threads
            )
            doc_idx[group], scores[group] = found, found_scores
        return doc_idx, scores

    def _query_row(self, qid, query) -> tuple[np.ndarray, np.ndarray, bool]:
        """(term ids int64, weights, whether the weights are integers) of one query_toks dict."""
        if not isinstance(query, dict):
            raise SpladeError(f"query {qid!r}: {QUERY_TOKS} must be a dict token -> weight, not {type(query).__name__}")
        keys, values = list(query), list(query.values())
        integer = all(isinstance(w, (int, np.integer)) and not isinstance(w, (bool, np.bool_)) for w in values)
        if not integer and not all(
            isinstance(w, (int, float, np.integer, np.floating)) and not isinstance(w, (bool, np.bool_)) for w in values
        ):
            raise SpladeError(f"query {qid!r}: {QUERY_TOKS} weights must be numbers")
        weights = np.asarray(values, dtype=np.int64 if integer else np.float64)
        if len(weights) and (weights.min() < 0 or (not integer and not np.isfinite(weights).all())):
            raise SpladeError(f"query {qid!r}: {QUERY_TOKS} weights must be finite and non-negative")
        if integer and len(weights) and weights.max() > _MAX_WEIGHT:
            raise SpladeError(f"query {qid!r}: integer weights must be at most {_MAX_WEIGHT} (found {weights.max()})")
        ids = np.full(len(keys), -1, dtype=np.int64)
        named = [at for at, key in enumerate(keys) if isinstance(key, str)]
        numbered = [at for at, key in enumerate(keys) if not isinstance(key, str)]
        if named:
            ids[named] = self._term_ids([keys[at] for at in named])
            unknown = [keys[at] for at in named if ids[at] < 0]
            if unknown:
                raise SpladeError(f"query {qid!r}: token {unknown[0]!r} is not in the vocabulary of {self.model}")
        for at in numbered:
            key = keys[at]
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or key < 0:
                raise SpladeError(f"query {qid!r}: {QUERY_TOKS} key {key!r} is neither a token nor a term id")
            ids[at] = key
        if len(np.unique(ids)) != len(ids):
            raise SpladeError(f"query {qid!r}: {QUERY_TOKS} names a term twice (as a token and as its id)")
        return ids, weights, integer


class BM25Retriever(pt.Transformer):
    """`splade bm25`'s ranking of `query` texts over a collection's documents (a collection spec
    or `data.Collection`; bm25s' Lucene variant, the same scores and ties): the baseline of the
    project's studies, without Java. The index is built when the retriever is made."""

    def __init__(self, collection: Any, *, k: int = 1000, k1: float = BM25_K1, b: float = BM25_B):
        from .data import Collection, load_collection
        from .retrieve.bm25 import bm25_index

        self.k = _check_positive(k, "k")
        self.k1, self.b = float(k1), float(b)
        collection = collection if isinstance(collection, Collection) else load_collection(str(collection))
        self.collection = collection.spec
        self.bm25, self.doc_ids = bm25_index(collection, self.k1, self.b, progress=False)

    def __repr__(self) -> str:
        return f"BM25Retriever({self.collection!r}, k={self.k}, k1={self.k1}, b={self.b})"

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        pt.validate.query_frame(inp, extra_columns=["query"])
        queries = inp["query"].tolist()
        for qid, text in zip(inp["qid"].tolist(), queries):
            if not isinstance(text, str):
                raise SpladeError(f"query {qid!r} is a {type(text).__name__}, not a text")
        doc_idx, scores = self.bm25.topk(queries, min(self.k, self.bm25.size))
        return _results(inp, self.doc_ids, doc_idx, scores)


def collection_topics(collection: Any) -> pd.DataFrame:
    """A collection's queries (its judged ones, if it has judgments) as PyTerrier topics:
    columns qid, query (str), in the collection's order."""
    from .data import Collection, load_collection

    collection = collection if isinstance(collection, Collection) else load_collection(str(collection))
    return pd.DataFrame(collection.queries(), columns=["qid", "query"], dtype=str)


def collection_qrels(collection: Any) -> pd.DataFrame:
    """A collection's judgments as PyTerrier qrels: columns qid, docno (str), label (int)."""
    from .data import Collection, load_collection

    collection = collection if isinstance(collection, Collection) else load_collection(str(collection))
    rows = [(qid, docno, label) for qid, docs in collection.qrels().items() for docno, label in docs.items()]
    frame = pd.DataFrame(rows, columns=["qid", "docno", "label"])
    return frame.astype({"qid": str, "docno": str, "label": np.int64})


# ---- helpers --------------------------------------------------------------------------------


def _results(inp: pd.DataFrame, doc_ids: np.ndarray, doc_idx: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """One row per found document (doc_idx >= 0) of each input row, in rank order."""
    found = doc_idx >= 0
    rows, places = np.nonzero(found)
    out = inp.iloc[rows].reset_index(drop=True)
    out["docno"] = pd.Series(np.asarray(doc_ids)[doc_idx[found]], dtype=str)
    out["score"] = scores[found].astype(np.float64)
    out["rank"] = places.astype(np.int64) + pt.model.FIRST_RANK
    return out


def _load_index(path: str, verify: bool) -> InvertedIndex:
    if (problem := file_problem(path)) is not None:
        raise SpladeError(f"{path}: {problem}")
    try:
        return InvertedIndex.load(path, verify=verify)
    except (OSError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise SpladeError(message if path in message else f"{path}: {message}") from None


def _model_name(model: Any) -> str:
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)
