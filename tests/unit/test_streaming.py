"""Streaming stages (a row chunk at a time) write exactly what the in-memory ones write."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from splade_core.encode import merge_vector_files
from splade_core.evaluate import sparsity_stats
from splade_core.sparse import SparseVectors, VectorFile, prune, quantize
from splade_core.sparse.prune import prune_file
from splade_core.sparse.quantize import quantize_file
from tests.unit.test_prune import VOCAB, random_csr

# Chunks of at most 7 entries: a corpus of ~1,200 entries is read in ~200 chunks, and most
# term-centric ties span chunks.
SMALL = 7


def vectors_of(seed: int, dtype, n_rows: int = 60, ids_from: int = 0) -> SparseVectors:
    indptr, indices, data = random_csr(seed, dtype, n_rows)
    ids = np.array([f"d{ids_from + row}" for row in range(n_rows)])
    meta = {"model": "test"}
    if dtype != np.float32:
        meta["quantization"] = {"scale": 100.0, "dtype": np.dtype(dtype).name}
    return SparseVectors(indptr, indices, data, ids, VOCAB, meta)


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_chunks_cover_the_rows_in_order(tmp_path):
    vectors = vectors_of(0, np.uint8, n_rows=200)
    vectors.save(tmp_path / "v.npz")
    with VectorFile(tmp_path / "v.npz") as opened:
        chunks = list(opened.chunks(SMALL))
        assert (opened.n_rows, opened.nnz, opened.vocab_size) == (vectors.n_rows, vectors.nnz, VOCAB)
        np.testing.assert_array_equal(opened.term_df(), np.bincount(vectors.indices, minlength=VOCAB))
    assert len(chunks) > 100
    assert all(chunk.nnz <= SMALL or chunk.n_rows == 1 for chunk in chunks)
    np.testing.assert_array_equal(np.concatenate([c.indices for c in chunks]), vectors.indices)
    np.testing.assert_array_equal(np.concatenate([c.data for c in chunks]), vectors.data)
    np.testing.assert_array_equal(np.concatenate([c.ids for c in chunks]), vectors.ids)
    np.testing.assert_array_equal(np.concatenate([c.row_nnz() for c in chunks]), vectors.row_nnz())


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_quantize_file_matches_quantize(tmp_path, dtype):
    vectors = vectors_of(1, np.float32)
    vectors = SparseVectors(vectors.indptr, vectors.indices, vectors.data * 150, vectors.ids, VOCAB, vectors.meta)
    vectors.save(tmp_path / "float.npz")
    quantize(vectors, 100.0, dtype).save(tmp_path / "memory.npz")
    stats = quantize_file(tmp_path / "float.npz", tmp_path / "streamed.npz", 100.0, dtype, chunk_entries=SMALL)
    assert members(tmp_path / "streamed.npz") == members(tmp_path / "memory.npz")
    assert stats["clipped"] == SparseVectors.load(tmp_path / "memory.npz").meta["quantization"]["clipped"]
    assert (dtype == "uint8") == (stats["clipped"] > 0)  # weights up to 525: some clip at 255


CASES = [("document", 0), ("document", 3), ("agnostic", 3), ("term", 0), ("term", 1), ("term", 5), ("term", 40)]
CASES += [("term", 10_000), ("term_quantile", 0.0), ("term_quantile", 0.37), ("term_quantile", 0.9)]
CASES += [("term_quantile", 1.0)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize(("method", "value"), CASES)
def test_prune_file_matches_prune(tmp_path, dtype, method, value):
    vectors = vectors_of(2, dtype)
    vectors.save(tmp_path / "in.npz")
    prune(vectors, method, value).save(tmp_path / "memory.npz")
    record = prune_file(tmp_path / "in.npz", tmp_path / "streamed.npz", method, value, chunk_entries=SMALL)
    assert members(tmp_path / "streamed.npz") == members(tmp_path / "memory.npz")
    assert record == SparseVectors.load(tmp_path / "memory.npz").meta["pruning"]


def test_term_pruning_of_uint16_impacts_uses_the_sparse_table(tmp_path):
    """Impacts spread over the whole uint16 range: the (term, impact) pairs are merged chunk by
    chunk instead of counted in a dense table."""
    base = vectors_of(3, np.uint16, n_rows=120)
    rng = np.random.default_rng(3)
    data = rng.choice(np.array([1, 2, 60_000, 65_535], dtype=np.uint16), size=base.nnz)
    vectors = SparseVectors(base.indptr, base.indices, data, base.ids, VOCAB, base.meta)
    vectors.save(tmp_path / "in.npz")
    for method, value in (("term", 4), ("term_quantile", 0.5)):
        prune(vectors, method, value).save(tmp_path / "memory.npz")
        prune_file(tmp_path / "in.npz", tmp_path / "streamed.npz", method, value, chunk_entries=SMALL)
        assert members(tmp_path / "streamed.npz") == members(tmp_path / "memory.npz")


def test_merge_streams_shards_into_their_concatenation(tmp_path):
    shards = [vectors_of(seed, np.float32, n_rows=30, ids_from=30 * seed) for seed in range(4)]
    paths = []
    for number, shard in enumerate(shards):
        meta = {**shard.meta, "shard": [number, 4], "rows": shard.n_rows}
        paths.append(tmp_path / f"shard{number}.npz")
        SparseVectors(shard.indptr, shard.indices, shard.data, shard.ids, VOCAB, meta).save(paths[-1])
    merge_vector_files(paths, tmp_path / "merged.npz")
    merged = SparseVectors.load(tmp_path / "merged.npz")
    np.testing.assert_array_equal(merged.ids, np.concatenate([shard.ids for shard in shards]))
    np.testing.assert_array_equal(merged.indices, np.concatenate([shard.indices for shard in shards]))
    np.testing.assert_array_equal(merged.data, np.concatenate([shard.data for shard in shards]))
    assert merged.meta == {"model": "test", "shards": 4}


def test_a_file_without_term_counts_still_opens_and_counts_them(tmp_path):
    """Files written before `term_df` existed: their counts are computed from the postings."""
    vectors = vectors_of(4, np.uint8)
    vectors.save(tmp_path / "new.npz")
    with zipfile.ZipFile(tmp_path / "new.npz") as new, zipfile.ZipFile(tmp_path / "old.npz", "w") as old:
        for name in new.namelist():
            if name != "term_df.npy":
                old.writestr(name, new.read(name))
    with VectorFile(tmp_path / "old.npz") as opened:
        np.testing.assert_array_equal(opened.term_df(), vectors.term_df())


def test_evaluation_statistics_from_the_file_equal_those_of_the_vectors(tmp_path):
    docs, queries = vectors_of(5, np.uint8), vectors_of(6, np.uint8, n_rows=9)
    docs.save(tmp_path / "docs.npz")
    with VectorFile(tmp_path / "docs.npz") as opened:
        assert sparsity_stats(queries, opened) == sparsity_stats(queries, docs)


def test_inconsistent_term_counts_are_a_corrupt_file(tmp_path):
    from splade_core.errors import SpladeError

    vectors = vectors_of(7, np.uint8)
    vectors.save(tmp_path / "v.npz")
    with zipfile.ZipFile(tmp_path / "v.npz") as good, zipfile.ZipFile(tmp_path / "bad.npz", "w") as bad:
        for name in good.namelist():
            content = good.read(name)
            if name == "term_df.npy":
                content = content[:-8] + np.int64(10**6).tobytes()
            bad.writestr(name, content)
    with pytest.raises(SpladeError, match=r"bad\.npz: corrupt sparse-vector file \(term_df"):
        VectorFile(tmp_path / "bad.npz")
    assert json.loads(str(np.load(tmp_path / "v.npz")["meta"][()]))["vocab_size"] == VOCAB


@pytest.mark.parametrize("ids", [["a", "bb", "ccc"], ["é", "naïve", "x"]], ids=["ascii", "unicode"])
def test_ids_are_held_compactly_and_come_back_unchanged(tmp_path, ids):
    """ASCII ids are held as 1-byte characters while streaming; others as they are."""
    vectors = SparseVectors(
        np.array([0, 1, 1, 2]), np.array([3, 4], np.int32), np.ones(2, np.float32), np.array(ids), VOCAB
    )
    vectors.save(tmp_path / "in.npz")
    with VectorFile(tmp_path / "in.npz") as opened:
        assert opened._ids.dtype.kind == ("S" if ids[0] == "a" else "U")
        assert opened.ids.tolist() == ids and [i for c in opened.chunks(1) for i in c.ids.tolist()] == ids
    quantize_file(tmp_path / "in.npz", tmp_path / "q.npz")
    loaded = SparseVectors.load(tmp_path / "q.npz")
    assert loaded.ids.dtype.kind == "U" and loaded.ids.tolist() == ids
