"""Encoding precision: fp32 / bf16 / fp16 recorded in the vector file's metadata, low-precision
vectors within the bounds docs/encoding.md states, and settings that cannot apply refused."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

from splade_core.data import load_collection
from splade_core.encode import EncodeOptions, encode_sparse, encode_to_file, merge_vector_files
from splade_core.errors import SpladeError
from splade_core.sparse import SparseVectors

# Bounds against fp32 on SciFact texts with splade-tiny (docs/encoding.md; measured: bf16 max
# 0.081, mean 0.0078, scores 0.8 %; fp16 max 0.0092, mean 0.0010, scores 0.1 %): the largest
# weight difference, the mean difference over fp32's non-zeros, and the largest q·d difference
# relative to the largest q·d.
BOUNDS = {"bf16": (0.25, 0.025, 0.03), "fp16": (0.05, 0.005, 0.005)}


def _encode(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splade_core", "encode", *flags], capture_output=True, text=True)


def test_the_precision_is_recorded_and_shards_of_two_precisions_do_not_merge(tiny_beir, splade_tiny, tmp_path):
    collection = load_collection(f"{tiny_beir}:test")
    for precision, shard in (("fp32", 0), ("bf16", 1)):
        options = EncodeOptions(batch_size=8, shard=shard, num_shards=2, precision=precision, progress=False)
        encode_to_file(
            splade_tiny, collection.docs, collection.doc_count(), "doc", tmp_path / f"{precision}.npz", options
        )
        assert SparseVectors.load(tmp_path / f"{precision}.npz").meta["precision"] == precision
    with pytest.raises(SpladeError, match="metadata differs"):
        merge_vector_files([tmp_path / "fp32.npz", tmp_path / "bf16.npz"], tmp_path / "merged.npz")
    assert not (tmp_path / "merged.npz").exists()
    done = _encode("--collection", f"{tiny_beir}:test", "--side", "query", "--precision", "bf16", "--no-progress",
                   "--output", str(tmp_path / "queries.npz"))  # fmt: skip
    assert done.returncode == 0 and SparseVectors.load(tmp_path / "queries.npz").meta["precision"] == "bf16"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tf32"], "tf32 applies to fp32 precision on a CUDA device"),
        (["--precision", "fp8"], "invalid choice: 'fp8'"),
        (["--device", "cuda"], "torch sees no CUDA device"),
    ],
)
def test_settings_that_cannot_apply_are_one_line(tiny_beir, tmp_path, flags, message):
    import torch

    if "--device" in flags and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    done = _encode("--collection", f"{tiny_beir}:test", "--side", "query", "--output", str(tmp_path / "q.npz"), *flags)
    assert done.returncode == 2 and message in done.stderr and not (tmp_path / "q.npz").exists()
    assert len([line for line in done.stderr.splitlines() if "error" in line]) == 1


def test_options_refuse_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        EncodeOptions(precision="half")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_vectors_stay_within_the_documented_bounds(splade_tiny, precision):
    collection = load_collection("bundled/scifact")
    docs = [text for _, text in itertools.islice(collection.docs(), 24 if precision == "bf16" else 8)]
    queries = [text for _, text in collection.queries()[:16]]
    doc_length = splade_tiny.doc_encoder.max_length
    splade_tiny.doc_encoder.max_length = 128  # fp16 matrix products are slow on CPUs without fp16 units
    try:
        exact_docs, exact_queries = (encode_sparse(splade_tiny, side, texts).toarray()
                                     for side, texts in (("doc", docs), ("query", queries)))  # fmt: skip
        low_docs, low_queries = (encode_sparse(splade_tiny, side, texts, precision=precision).toarray()
                                 for side, texts in (("doc", docs), ("query", queries)))  # fmt: skip
    finally:
        splade_tiny.doc_encoder.max_length = doc_length
    largest, mean, scores = BOUNDS[precision]
    difference = np.abs(low_docs - exact_docs)
    assert 0 < difference.max() < largest and difference[exact_docs > 0].mean() < mean
    exact_scores, low_scores = exact_queries @ exact_docs.T, low_queries @ low_docs.T
    assert np.abs(low_scores - exact_scores).max() < scores * np.abs(exact_scores).max()
