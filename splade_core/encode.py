"""Encode texts (a corpus, or queries) into a sparse-vector file.

Texts are read a window at a time, tokenized without padding, sorted by length inside the
window and batched, so a batch pads to almost nothing; vectors go to disk as each window
completes, in input order. Memory is bounded by one window, whatever the corpus size.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import SpladeError
from .model import Splade
from .sparse import SparseVectorsWriter, VectorFile


@dataclass(frozen=True)
class EncodeOptions:
    batch_size: int = 32
    window: int = 4096  # texts tokenized and length-sorted together
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    shard: int = 0
    num_shards: int = 1
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.window < 1:
            raise ValueError("batch_size and window must be positive")
        if not 0 <= self.shard < self.num_shards:
            raise ValueError(f"shard must lie in [0, {self.num_shards}), got {self.shard}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive, got {self.threads}")
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ValueError(f"unknown torch device {self.device!r} (cpu, cuda, cuda:N, mps)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for, but torch sees no CUDA device")


def shard_range(total: int, shard: int, num_shards: int) -> tuple[int, int]:
    """Contiguous [start, stop) of shard `shard` of `num_shards`: merged shards keep input order."""
    return total * shard // num_shards, total * (shard + 1) // num_shards


def encode_to_file(
    model: Splade,
    read_rows: Callable[[int, int], Iterable[tuple[str, str]]],
    total: int,
    side: str,
    output: str | os.PathLike,
    options: EncodeOptions = EncodeOptions(),
    meta: dict | None = None,
) -> dict:
    """Encode the (id, text) pairs of this shard with the `side` ('doc' or 'query') encoder.

    `read_rows(start, stop)` yields rows [start, stop) of the `total` (a downloaded corpus seeks
    to `start`). Returns a summary: rows, non-zeros, seconds, texts per second.
    """
    if options.threads:
        torch.set_num_threads(options.threads)
    encoder, max_length = model.encoder_for(side)
    encoder.to(options.device)
    start, stop = shard_range(total, options.shard, options.num_shards)
    selected = read_rows(start, stop)
    meta = {
        **(meta or {}),
        "side": side,
        "max_length": max_length,
        "pooling": model.pooling,
        "shard": [options.shard, options.num_shards],
        "rows": [start, stop],
    }
    began = time.perf_counter()
    rows = nnz = 0
    with (
        SparseVectorsWriter(output, model.vocab_size, np.float32, meta) as writer,
        tqdm(total=stop - start, desc=f"encode {side}s", unit=side, disable=not options.progress, mininterval=2) as bar,
    ):
        for window in _windows(selected, options.window):
            ids, texts = zip(*window)
            indptr, indices, data = encode_window(encoder, list(texts), max_length, options.batch_size, bar.update)
            writer.append(indptr, indices, data, ids)
            rows += len(ids)
            nnz += len(data)
    seconds = time.perf_counter() - began
    return {"rows": rows, "nnz": nnz, "seconds": round(seconds, 3), "per_second": round(rows / max(seconds, 1e-9), 2)}


def encode_window(encoder, texts: list[str], max_length: int, batch_size: int, on_batch=lambda n: None):
    """CSR arrays (indptr, indices, data) of `texts`, in input order; `on_batch(n)` after each batch."""
    tokens = encoder.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(tokens[i]), reverse=True)
    rows: list[tuple[np.ndarray, np.ndarray]] = [None] * len(texts)  # type: ignore[list-item]
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        padded = encoder.tokenizer.pad({"input_ids": [tokens[i] for i in batch]}, return_tensors="pt")
        dense = encoder.encode_dense(
            padded["input_ids"].to(encoder.device), padded["attention_mask"].to(encoder.device)
        )
        for position, row in zip(batch, dense_to_rows(dense)):
            rows[position] = row
        on_batch(len(batch))
    lengths = np.fromiter((len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
    return indptr, indices, data


def dense_to_rows(dense: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split dense [batch, vocab] vectors into per-row (term ids int32, weights float32)."""
    array = dense.detach().float().cpu().numpy()
    row_idx, term_idx = np.nonzero(array > 0)
    weights = array[row_idx, term_idx].astype(np.float32)
    bounds = np.searchsorted(row_idx, np.arange(1, len(array)))
    return list(zip(np.split(term_idx.astype(np.int32), bounds), np.split(weights, bounds)))


def merge_vector_files(inputs: list[str | os.PathLike], output: str | os.PathLike) -> dict:
    """Concatenate shard files (in the order given) into one file, a row chunk at a time;
    their metadata must agree."""
    if not inputs:
        raise SpladeError("merge needs at least one input file")
    with VectorFile(inputs[0]) as first:
        vocab_size, dtype, reference = first.vocab_size, first.dtype, _shard_free(first.meta)
    rows = 0
    with SparseVectorsWriter(output, vocab_size, dtype, {**reference, "shards": len(inputs)}) as writer:
        for path in inputs:
            with VectorFile(path) as part:
                if (part.vocab_size, part.dtype, _shard_free(part.meta)) != (vocab_size, dtype, reference):
                    raise SpladeError(f"{path}: metadata differs from {inputs[0]} (different model or settings)")
                for chunk in part.chunks():
                    writer.append(chunk.indptr, chunk.indices, chunk.data, chunk.ids)
                rows += part.n_rows
    return {"rows": rows, "shards": len(inputs)}


def _shard_free(meta: dict) -> dict:
    return {key: value for key, value in meta.items() if key not in ("shard", "rows", "encoding")}


def _windows(items: Iterator, size: int) -> Iterator[list]:
    iterator = iter(items)
    while window := list(itertools.islice(iterator, size)):
        yield window
