"""Bad inputs to InvertedIndex raise ValueError (or TypeError) with a message that says why."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.index import InvertedIndex
from splade_core.sparse import SparseVectors

DOCS = sp.csr_array(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.uint8))


@pytest.fixture(scope="module")
def index():
    return InvertedIndex.build(DOCS, ["a", "b"])


@pytest.mark.parametrize(
    ("docs", "kwargs", "message"),
    [
        ((np.array([0, 1]), np.array([5]), np.array([1], np.uint8)), {"vocab_size": 3}, "term id 5 >= vocab_size 3"),
        ((np.array([0, 1]), np.array([-1]), np.array([1], np.uint8)), {"vocab_size": 3}, "negative term id"),
        ((np.array([0, 1]), np.array([1]), np.array([-4])), {}, "non-negative"),
        ((np.array([0, 1]), np.array([1]), np.array([70000])), {}, "fit uint16"),
        ((np.array([0, 1]), np.array([1]), np.array([0.5], np.float32)), {}, "quantize"),
        ((np.array([0, 2, 1, 2]), np.array([1, 2]), np.array([1, 1], np.uint8)), {}, "non-decreasing"),
        ((np.array([0, 3]), np.array([1, 2]), np.array([1, 1], np.uint8)), {}, "indptr must run from 0"),
        ((np.array([0, 2]), np.array([1, 1]), np.array([1, 2], np.uint8)), {}, "holds term id 1 twice"),
        (DOCS, {"block_size": 48}, "power of two"),
        (DOCS, {"threads": 0}, "threads must be a positive integer"),
    ],
)
def test_bad_documents(docs, kwargs, message):
    n = 2 if docs is DOCS else len(docs[0]) - 1
    with pytest.raises(ValueError, match=message):
        InvertedIndex.build(docs, [str(i) for i in range(n)], **kwargs)


def test_bad_doc_ids_and_options():
    with pytest.raises(ValueError, match="3 doc ids for 2 documents"):
        InvertedIndex.build(DOCS, ["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        InvertedIndex.build(DOCS, ["a", "a"])
    with pytest.raises(TypeError, match="unknown codec option"):
        InvertedIndex.build(DOCS, None, compression="zstd")
    with pytest.raises(ValueError, match="codec must be"):
        InvertedIndex.build(DOCS, None, codec="varint")
    with pytest.raises(TypeError):
        InvertedIndex.build(np.ones((2, 2)), None)
    float_vectors = SparseVectors.from_csr(DOCS.astype(np.float32), ["a", "b"])
    with pytest.raises(ValueError, match="quantize"):
        InvertedIndex.from_vectors(float_vectors)


@pytest.mark.parametrize(
    ("queries", "kwargs", "message"),
    [
        ((np.array([0, 1]), np.array([-2]), np.array([1])), {}, "negative query term id"),
        ((np.array([0, 1]), np.array([1]), np.array([-1])), {}, "weights must be"),
        ((np.array([0, 1]), np.array([1]), np.array([65536])), {}, r"\[0, 65535\]"),
        ((np.array([0, 1]), np.array([1]), np.array([np.nan])), {}, "NaN"),
        ((np.array([0, 1]), np.array([1]), np.array([-0.5])), {}, "non-negative"),
        ((np.array([0, 2]), np.array([1, 1]), np.array([1, 2])), {}, "holds term id 1 twice"),
        ((np.array([0, 2, 1, 2]), np.array([1, 2]), np.array([1, 2])), {}, "non-decreasing"),
        ((np.array([1, 2]), np.array([1, 2]), np.array([1, 2])), {}, "start at 0"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"k": 0}, "k must be a positive integer"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"algorithm": "wand"}, "unknown algorithm"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"alpha": 1.5}, "alpha"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"term_ratio": 0.0}, "term_ratio"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"algorithm": "exhaustive", "alpha": 0.5}, "pruning"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"algorithm": "bmp", "bound_share": 0.0}, "bound_share"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), {"algorithm": "maxscore", "bound_share": 0.5}, "bmp only"),
    ],
)
def test_bad_queries(index, queries, kwargs, message):
    with pytest.raises(ValueError, match=message):
        index.search(queries, **kwargs)


def test_bad_query_types(index):
    with pytest.raises(TypeError):
        index.search([[1, 2, 3]])
    with pytest.raises(TypeError):
        InvertedIndex(object())


def test_errors_in_worker_threads_reach_the_caller(index):
    n = 50
    indptr = np.arange(n + 1) * 2
    terms = np.tile([0, 1], n)
    terms[61] = 0  # row 30 repeats term 0
    with pytest.raises(ValueError, match="query row 30 holds term id 0 twice"):
        index.search((indptr, terms, np.ones(2 * n, np.int64)), k=3, threads=3)
