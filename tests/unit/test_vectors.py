import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.errors import SpladeError
from splade_core.sparse import SparseVectors, SparseVectorsWriter


def random_vectors(rows=7, vocab=50, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    matrix = sp.random(rows, vocab, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    matrix.data = (matrix.data * 3).astype(dtype)
    return SparseVectors.from_csr(matrix, [f"d{i}" for i in range(rows)], {"model": "m"})


def test_save_load_round_trip(tmp_path):
    vectors = random_vectors()
    vectors.save(tmp_path / "v.npz")
    loaded = SparseVectors.load(tmp_path / "v.npz")
    assert (loaded.to_csr() != vectors.to_csr()).nnz == 0
    assert loaded.ids.tolist() == vectors.ids.tolist() and loaded.meta == {"model": "m"}


def test_writer_streams_blocks_in_order(tmp_path):
    vectors = random_vectors(rows=10)
    with SparseVectorsWriter(tmp_path / "v.npz", vectors.vocab_size, np.float32, {}) as writer:
        for start in (0, 4, 9):
            stop = {0: 4, 4: 9, 9: 10}[start]
            writer.append(vectors.indptr[start : stop + 1], vectors.indices, vectors.data, vectors.ids[start:stop])
    loaded = SparseVectors.load(tmp_path / "v.npz")
    assert (loaded.to_csr() != vectors.to_csr()).nnz == 0
    assert loaded.ids.tolist() == vectors.ids.tolist()


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with SparseVectorsWriter(tmp_path / "v.npz", 10, np.float32, {}):
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_term_ids_outside_vocabulary_are_rejected(tmp_path):
    writer = SparseVectorsWriter(tmp_path / "v.npz", 5, np.float32, {})
    with pytest.raises(ValueError, match="term ids"):
        writer.append(np.array([0, 1]), np.array([7]), np.array([1.0]), ["x"])
    writer.discard()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_foreign_or_truncated_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(SpladeError, match="not a sparse-vector file"):
        SparseVectors.load(tmp_path / "bad.npz")


def test_npz_without_format_tag_is_rejected(tmp_path):
    np.savez(
        tmp_path / "other.npz",
        meta=np.asarray('{"format": "x"}'),
        indptr=np.zeros(1),
        indices=np.zeros(0),
        data=np.zeros(0),
        ids=np.zeros(0, str),
    )
    with pytest.raises(SpladeError, match="format 'x'"):
        SparseVectors.load(tmp_path / "other.npz")
