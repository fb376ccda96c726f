import numpy as np
import pytest
import scipy.sparse as sp

from splade_core.sparse import SparseVectors
from splade_core.sparse.quantize import quantize, quantize_csr


def reference(dense: np.ndarray, scale: float, max_value: int) -> np.ndarray:
    return np.clip(np.rint(dense.astype(np.float64) * scale), 0, max_value)


@pytest.mark.parametrize("dtype,max_value", [("uint8", 255), ("uint16", 65535)])
def test_matches_numpy_reference_and_drops_zeros(dtype, max_value):
    rng = np.random.default_rng(1)
    dense = rng.exponential(0.8, size=(40, 300)).astype(np.float32) * (rng.random((40, 300)) < 0.1)
    dense[0, :5] = [0.004, 0.005, 0.006, 3.0, 700.0]  # below half a unit, tie, above, large, clipped
    csr = sp.csr_array(dense)
    indptr, indices, data = quantize_csr(csr.indptr, csr.indices, csr.data, scale=100, dtype=dtype)
    got = sp.csr_array((data, indices, indptr), shape=dense.shape).toarray()
    np.testing.assert_array_equal(got, reference(dense, 100, max_value))
    assert data.dtype == np.dtype(dtype) and (data > 0).all()


def test_rounding_ties_go_to_even():
    weights = np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float32)  # exact halves at scale 1
    indptr = np.array([0, 4])
    _, _, data = quantize_csr(indptr, np.arange(4), weights, scale=1.0)
    assert data.tolist() == [2, 2, 4]  # 0.5 -> 0 (dropped), 1.5 -> 2, 2.5 -> 2, 3.5 -> 4


def test_round_trip_error_is_at_most_half_a_unit():
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.01, 2.5, size=1000).astype(np.float32)
    _, _, data = quantize_csr(np.array([0, 1000]), np.arange(1000), weights, scale=100)
    assert np.abs(data / 100 - weights).max() <= 0.005 + 1e-6


def test_metadata_records_scale_rule_and_clipping():
    vectors = SparseVectors.from_csr(sp.csr_array(np.array([[0.2, 3.0]], dtype=np.float32)), ["d"])
    quantized = quantize(vectors, scale=100, dtype="uint8")
    info = quantized.meta["quantization"]
    assert info["scale"] == 100 and info["dtype"] == "uint8" and "ties to even" in info["rule"]
    assert info["clipped"] == 1 and quantized.data.tolist() == [20, 255]


@pytest.mark.parametrize(
    "bad,match", [(np.array([-0.1], np.float32), "non-negative"), (np.array([np.nan], np.float32), "NaN")]
)
def test_invalid_weights_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        quantize_csr(np.array([0, 1]), np.array([0]), bad)


def test_invalid_dtype_and_scale_are_rejected():
    with pytest.raises(ValueError, match="dtype"):
        quantize_csr(np.array([0]), np.zeros(0), np.zeros(0), dtype="int8")
    with pytest.raises(ValueError, match="scale"):
        quantize_csr(np.array([0]), np.zeros(0), np.zeros(0), scale=0)
