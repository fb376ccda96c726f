"""A killed encoding shard resumes after its last complete block and writes what an
uninterrupted run writes."""

from __future__ import annotations

import numpy as np
import pytest

from splade_core.data import load_collection
from splade_core.encode import EncodeOptions, encode_to_file
from splade_core.sparse import SparseVectors


class Killed(Exception):
    pass


def reader(collection, fail_after: int | None = None, calls: list | None = None):
    """collection.docs, raising after `fail_after` rows (a job killed mid-shard)."""

    def read_rows(start, stop):
        if calls is not None:
            calls.append((start, stop))
        for number, row in enumerate(collection.docs(start, stop)):
            if fail_after is not None and number == fail_after:
                raise Killed
            yield row

    return read_rows


@pytest.fixture(scope="module")
def collection(tiny_beir):
    return load_collection(f"{tiny_beir}:test")


def test_a_killed_shard_resumes_from_its_last_block(tmp_path, collection, splade_tiny):
    options = EncodeOptions(batch_size=2, window=4, num_shards=2, shard=1, progress=False)
    total = collection.doc_count()
    encode_to_file(splade_tiny, reader(collection), total, "doc", tmp_path / "whole.npz", options)
    output = tmp_path / "shard.npz"
    with pytest.raises(Killed):
        encode_to_file(splade_tiny, reader(collection, fail_after=9), total, "doc", output, options)
    assert not output.exists() and len(list((tmp_path / "shard.npz.blocks").glob("block-*.npz"))) == 2
    calls = []
    summary = encode_to_file(splade_tiny, reader(collection, calls=calls), total, "doc", output, options)
    first = total // 2
    assert summary["resumed_from"] == first + 8 and calls == [(first + 8, total)]  # two blocks of 4 kept
    assert not (tmp_path / "shard.npz.blocks").exists()
    whole, resumed = SparseVectors.load(tmp_path / "whole.npz"), SparseVectors.load(output)
    for name in ("indptr", "indices", "data", "ids"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))
    assert resumed.meta == whole.meta


def test_blocks_of_other_settings_are_not_reused(tmp_path, collection, splade_tiny):
    total = collection.doc_count()
    with pytest.raises(Killed):
        encode_to_file(
            splade_tiny,
            reader(collection, fail_after=5),
            total,
            "doc",
            tmp_path / "v.npz",
            EncodeOptions(batch_size=2, window=4, progress=False),
        )
    summary = encode_to_file(
        splade_tiny,
        reader(collection),
        total,
        "doc",
        tmp_path / "v.npz",
        EncodeOptions(batch_size=4, window=4, progress=False),
    )
    assert "resumed_from" not in summary and summary["rows"] == total
