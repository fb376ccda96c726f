"""Index files: round trips, atomic saves, and truncated, bit-flipped or foreign files, which
must raise IndexFormatError (never crash, never load silently)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.index import IndexFormatError, InvertedIndex


@pytest.fixture(scope="module", params=[None, "bp", "bp+clusters"])
def small(request):
    rng = np.random.default_rng(5)
    dense = rng.integers(0, 256, (400, 120)) * (rng.random((400, 120)) < 0.15)
    docs = sp.csr_array(dense.astype(np.uint8))
    queries = sp.csr_array((rng.integers(0, 40, (8, 120)) * (rng.random((8, 120)) < 0.2)).astype(np.uint8))
    ids = [f"d{i}-é" for i in range(400)]
    index = InvertedIndex.build(docs, ids, block_size=16, scale=100.0, reorder=request.param and "bp")
    if request.param == "bp+clusters":
        index.build_clusters()
    return index, queries


def searches(index) -> list[dict]:
    """Every algorithm the index can run, as search options."""
    clustered = [{"algorithm": "clustered", "query_cut": 3}] if index.has_clusters else []
    return [{"algorithm": algorithm} for algorithm in index.algorithms] + clustered


@pytest.fixture
def saved(small, tmp_path):
    path = tmp_path / "index.spl"
    small[0].save(path)
    return path, path.read_bytes()


def test_round_trip(small, saved):
    index, queries = small
    loaded = InvertedIndex.load(saved[0])
    assert loaded.stats() == index.stats()
    assert loaded.doc_ids.tolist() == index.doc_ids.tolist() and loaded.scale == 100.0
    if index.doc_order is None:
        assert loaded.doc_order is None
    else:
        np.testing.assert_array_equal(loaded.doc_order, index.doc_order)
        assert loaded.stats()["doc_order"] == "bp"
    for options in searches(index):
        for got, want in zip(loaded.search(queries, k=7, **options), index.search(queries, k=7, **options)):
            np.testing.assert_array_equal(got, want)
    assert len(saved[1]) == index.stats()["total_bytes"]


def test_save_is_atomic_and_overwrites(small, tmp_path):
    path = tmp_path / "sub" / "index.spl"
    path.parent.mkdir()
    path.write_bytes(b"old")
    small[0].save(path)
    assert InvertedIndex.load(path).stats() == small[0].stats()
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.spl"]  # no temp files left
    with pytest.raises(OSError):
        small[0].save(tmp_path / "missing-dir-file" / "x" / "\0bad")


def _positions(size: int, count: int) -> list[int]:
    return sorted(set(np.linspace(0, size - 1, count).astype(int)) | set(range(0, 400)))


def test_truncated_files_are_rejected(saved, tmp_path):
    data = saved[1]
    damaged = tmp_path / "damaged.spl"
    for cut in _positions(len(data), 150):
        damaged.write_bytes(data[:cut])
        with pytest.raises(IndexFormatError):
            InvertedIndex.load(damaged)
    damaged.write_bytes(data + b"\0")
    with pytest.raises(IndexFormatError, match="truncated|trailing|header says"):
        InvertedIndex.load(damaged)


def test_flipped_bytes_are_rejected(small, saved, tmp_path):
    data = saved[1]
    damaged = tmp_path / "damaged.spl"
    queries = small[1]
    for pos in _positions(len(data), 400):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << (pos % 8)
        damaged.write_bytes(bytes(flipped))
        with pytest.raises(IndexFormatError):
            InvertedIndex.load(damaged)
        try:  # without checksums: structural checks still run, and searching must not crash
            index = InvertedIndex.load(damaged, verify=False)
            for options in searches(index):
                index.search(queries, k=5, **options)
        except IndexFormatError:
            pass


def test_other_format_versions_are_refused_clearly(saved, tmp_path):
    data = bytearray(saved[1])
    other = tmp_path / "v1.spl"
    for version in (1, 2, 3, 5):
        data[8:12] = version.to_bytes(4, "little")
        other.write_bytes(bytes(data[:288]))  # earlier headers are shorter
        with pytest.raises(IndexFormatError, match=f"version {version}, this build reads 4 \\(rebuild"):
            InvertedIndex.load(other)


def test_foreign_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"PK\x03\x04" + bytes(500))
    with pytest.raises(IndexFormatError, match="not a splade-core index"):
        InvertedIndex.load(foreign)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(IndexFormatError):
        InvertedIndex.load(empty)
    with pytest.raises(FileNotFoundError):
        InvertedIndex.load(tmp_path / "absent.spl")
    with pytest.raises(IsADirectoryError):
        InvertedIndex.load(tmp_path)
    assert issubclass(IndexFormatError, ValueError)
