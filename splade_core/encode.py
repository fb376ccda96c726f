"""Encode texts (a corpus, or queries) into a sparse-vector file.

Texts are read a window at a time, tokenized without padding, sorted by length inside the
window and batched, so a batch pads to almost nothing; vectors go to disk as each window
completes, in input order, as a block file beside the output: a killed shard resumes after its
last complete block (seeking the collection there). Memory is bounded by one window, whatever
the corpus size.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import SpladeError
from .io import write_json
from .model import Splade
from .sparse import SparseVectors, SparseVectorsWriter, VectorFile


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
    meta = {
        **(meta or {}),
        "side": side,
        "max_length": max_length,
        "pooling": model.pooling,
        "shard": [options.shard, options.num_shards],
        "rows": [start, stop],
    }
    began = time.perf_counter()
    blocks = _Blocks(Path(f"{output}.blocks"), {**meta, "batch_size": options.batch_size, "window": options.window})
    resume = blocks.resume_at(start, stop)
    encoded = resume - start
    with tqdm(
        total=stop - start,
        initial=encoded,
        desc=f"encode {side}s",
        unit=side,
        disable=not options.progress,
        mininterval=2,
    ) as bar:
        for window in _windows(read_rows(resume, stop) if resume < stop else iter(()), options.window):
            ids, texts = zip(*window)
            indptr, indices, data = encode_window(encoder, list(texts), max_length, options.batch_size, bar.update)
            blocks.add(resume, SparseVectors(indptr, indices, data, np.asarray(ids, dtype=str), model.vocab_size, meta))
            resume += len(ids)
    rows, nnz = blocks.merge(output, model.vocab_size, meta)
    seconds = time.perf_counter() - began
    summary = {
        "rows": rows,
        "nnz": nnz,
        "seconds": round(seconds, 3),
        "per_second": round((rows - encoded) / max(seconds, 1e-9), 2),
    }
    return {**summary, "resumed_from": start + encoded} if encoded else summary


class _Blocks:
    """A shard's encoded windows as block files in `folder`, so that a killed job resumes after
    its last complete block. The folder remembers what it encodes (model, rows, batching): a
    folder left by other settings is cleared. `merge` streams the blocks into the output."""

    def __init__(self, folder: Path, identity: dict):
        self.folder, self.identity = folder, json.loads(json.dumps(identity))
        stamp = folder / "identity.json"
        if folder.is_dir() and _read_stamp(stamp) != self.identity:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not stamp.is_file():
            write_json(stamp, self.identity)

    def _done(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("block-*.npz"):
            try:
                found.append((int(path.name[6:-4]), path))
            except ValueError:
                continue
        return sorted(found)

    def resume_at(self, start: int, stop: int) -> int:
        """The first row not in a complete block (blocks after a gap are dropped)."""
        at = start
        for first, path in self._done():
            try:
                with VectorFile(path) as block:
                    rows = block.n_rows
            except SpladeError:
                rows = -1
            if first != at or rows < 0:
                path.unlink()
                continue
            at += rows
        return min(at, stop)

    def add(self, first: int, vectors: SparseVectors) -> None:
        vectors.save(self.folder / f"block-{first:012d}.npz")

    def merge(self, output, vocab_size: int, meta: dict) -> tuple[int, int]:
        with SparseVectorsWriter(output, vocab_size, np.float32, meta) as writer:
            for _, path in self._done():
                with VectorFile(path) as block:
                    for chunk in block.chunks():
                        writer.append(chunk.indptr, chunk.indices, chunk.data, chunk.ids)
        shutil.rmtree(self.folder)
        return writer.rows, writer.nnz


def _read_stamp(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
