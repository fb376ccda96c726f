"""Quantized sparse vectors → other engines' input formats: Anserini and CIFF.

Anserini (Lucene) impact indexes, as in its SPLADE regressions (`IndexCollection -collection
JsonVectorCollection -impact -pretokenized`; `SearchCollection -topicReader TsvString -impact
-pretokenized`):

- documents: JSON lines ``{"id": doc_id, "contents": "", "vector": {token: impact}}``;
- queries: TSV lines ``query_id<TAB>token token token ...``, each token repeated `impact`
  times (a pretokenized query's term weight is its count); or JSON lines
  ``{"id": query_id, "vector": {token: impact}}`` for readers that take vectors.

CIFF (an inverted index of the documents, for PISA's ciff2pisa and BMP's ciff2bmp) is written
by `splade_core.formats.ciff.write_ciff`. Token strings come from a vocabulary list (e.g. a
Hugging Face tokenizer's ``convert_ids_to_tokens(range(vocab_size))``), indexed by term id.
Every writer takes a `SparseVectors` or streams a `VectorFile` a row chunk at a time, goes
through `atomic_path`, and writes plain text or, when `compress` is true (by default: the path
ends in ``.gz``), gzip. `export_file` is what `splade export` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import SpladeError
from ..registry import ANSERINI_QUERY_FORMATS as QUERY_FORMATS
from ..registry import EXPORT_FORMATS
from ..sparse import SparseVectors, VectorFile
from .ciff import CIFF_VERSION, write_ciff
from .streams import chunks_of, open_text, progress_bar, require_impacts
from .vocabulary import Vocabulary, check_vocabulary

__all__ = ["CIFF_VERSION", "export_file", "write_anserini_docs", "write_anserini_queries", "write_ciff"]


def export_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    format: str,
    model: str | None = None,
    *,
    queries: bool = False,
    query_format: str = "tsv",
    compress: bool | None = None,
    description: str | None = None,
    progress: bool = False,
) -> dict:
    """Export a quantized vector file, streamed, in `format` ("anserini" or "ciff"), with the
    token strings of `model`'s tokenizer (default: the model the file's metadata names).
    `queries`: the rows are queries (Anserini topics, `query_format` tsv or jsonl); CIFF is
    an index of documents only."""
    if format not in EXPORT_FORMATS:
        raise SpladeError(f"format must be one of {EXPORT_FORMATS}, not {format!r}")
    if queries and format == "ciff":
        raise SpladeError("CIFF is an index of documents: export queries with --format anserini")
    if query_format not in QUERY_FORMATS:
        raise SpladeError(f"query format must be one of {QUERY_FORMATS}, not {query_format!r}")
    with VectorFile(input) as vectors:
        if not vectors.is_quantized:
            raise SpladeError(f"{input}: float weights; {format} takes integer impacts (run `splade quantize` first)")
        model = model or vectors.meta.get("model")
        if not model:
            raise SpladeError(
                f"{input}: its metadata names no model: name the one whose tokenizer names its terms (--model)"
            )
        vocabulary = Vocabulary.of_model(model)
        vocabulary.check_size(vectors.vocab_size, input)
        tokens = list(vocabulary.tokens)
        try:
            if format == "ciff":
                scale = vectors.meta.get("quantization", {}).get("scale")
                text = description if description is not None else f"splade-core: {model}, impacts = weights x {scale}"
                write_ciff(vectors, output, tokens, text, compress=compress, progress=progress)
            elif queries:
                write_anserini_queries(vectors, tokens, output, query_format, compress=compress, progress=progress)
            else:
                write_anserini_docs(vectors, tokens, output, compress=compress, progress=progress)
        except ValueError as exc:
            raise SpladeError(f"{input}: {exc}") from None
        return {"rows": vectors.n_rows, "nnz": vectors.nnz, "format": format, "model": str(model)}


def write_anserini_docs(
    vectors: SparseVectors | VectorFile,
    vocab: Sequence[str],
    path: str | os.PathLike,
    *,
    compress: bool | None = None,
    progress: bool = False,
) -> None:
    """Write documents as Anserini JsonVectorCollection lines (for -impact -pretokenized)."""
    tokens = _token_array(vectors, vocab)
    with open_text(path, compress) as out:
        for doc_id, terms, impacts in _rows(vectors, tokens, progress):
            out.write(json.dumps({"id": doc_id, "contents": "", "vector": dict(zip(terms, impacts))}))
            out.write("\n")


def write_anserini_queries(
    vectors: SparseVectors | VectorFile,
    vocab: Sequence[str],
    path: str | os.PathLike,
    format: str = "tsv",
    *,
    compress: bool | None = None,
    progress: bool = False,
) -> None:
    """Write queries for Anserini's -impact -pretokenized search.

    "tsv": ``query_id<TAB>tokens``, each token repeated impact times (topic reader TsvString,
    or TsvInt for integer ids); "jsonl": ``{"id": query_id, "vector": {token: impact}}``.
    """
    if format not in QUERY_FORMATS:
        raise ValueError(f"query format must be one of {QUERY_FORMATS}, not {format!r}")
    tokens = _token_array(vectors, vocab)
    if format == "tsv":
        used = tokens[np.flatnonzero(vectors.term_df())]
        bad = [t for t in used if not t or any(c.isspace() for c in t)]
        if bad:
            raise ValueError(f"tokens {bad[:5]} are empty or hold whitespace: they cannot go into a TSV query")
    with open_text(path, compress) as out:
        for query_id, terms, impacts in _rows(vectors, tokens, progress):
            if format == "tsv":
                out.write(f"{query_id}\t{' '.join(t for t, w in zip(terms, impacts) for _ in range(w))}\n")
            else:
                out.write(json.dumps({"id": query_id, "vector": dict(zip(terms, impacts))}))
                out.write("\n")


def _token_array(vectors: SparseVectors | VectorFile, vocab: Sequence[str]) -> np.ndarray:
    require_impacts(vectors)
    return check_vocabulary(np.flatnonzero(vectors.term_df()), vocab)


def _rows(vectors: SparseVectors | VectorFile, tokens: np.ndarray, progress: bool) -> Iterator[tuple[str, list, list]]:
    with progress_bar(progress, vectors.n_rows, "export", "row") as bar:
        for chunk in chunks_of(vectors):
            for row in range(chunk.n_rows):
                start, end = chunk.indptr[row], chunk.indptr[row + 1]
                yield str(chunk.ids[row]), tokens[chunk.indices[start:end]].tolist(), chunk.data[start:end].tolist()
            bar.update(chunk.n_rows)
