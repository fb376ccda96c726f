"""Encode texts (a corpus, or queries) into a sparse-vector file.

Texts are read a window at a time, tokenized without padding, sorted by length inside the
window and batched, so a batch pads to almost nothing; vectors go to disk as each window
completes, in input order, as a block file beside the output: a killed shard resumes after its
last complete block (seeking the collection there). Memory is bounded by one window, whatever
the corpus size.

`precision` is fp32 (default), bf16 or fp16 (autocast; `splade_core.model.precision`), recorded
in the file's metadata. On CUDA the next window is read and tokenized in a background thread,
batches go to the GPU from pinned memory, and one batch's vectors are copied back while the
next one is computed; `tf32` lets CUDA's float32 products use TensorFloat-32.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from .data.ids import first_repeat, id_hashes, id_text
from .errors import SpladeError
from .io import write_json
from .model import Splade
from .model.precision import allow_tf32
from .registry import PRECISIONS
from .sparse import SparseVectors, SparseVectorsWriter, VectorFile


@dataclass(frozen=True)
class EncodeOptions:
    batch_size: int = 32
    window: int = 4096  # texts tokenized and length-sorted together
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    shard: int = 0
    num_shards: int = 1
    device: str = "cpu"
    precision: str = "fp32"
    tf32: bool = False  # CUDA float32 products in TensorFloat-32
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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.tf32 and (device.type != "cuda" or self.precision != "fp32"):
            raise ValueError("tf32 applies to fp32 precision on a CUDA device")

    @property
    def prefetch(self) -> bool:
        """Read and tokenize the next window while this one is encoded (CUDA: the CPU is idle)."""
        return torch.device(self.device).type == "cuda"


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
    source: str = "the input",
) -> dict:
    """Encode the (id, text) pairs of this shard with the `side` ('doc' or 'query') encoder.

    `read_rows(start, stop)` yields rows [start, stop) of the `total` (a downloaded corpus seeks
    to `start`); `source` names where they come from in messages (an id that repeats within a
    window of rows is refused here; the readers find the others). Returns a summary: rows,
    non-zeros, seconds, texts per second.
    """
    if options.threads:
        torch.set_num_threads(options.threads)
    if options.tf32:
        allow_tf32(options.device)
    encoder, max_length = model.encoder_for(side)
    encoder.to(options.device)
    start, stop = shard_range(total, options.shard, options.num_shards)
    meta = {
        **(meta or {}),
        "side": side,
        "max_length": max_length,
        "pooling": model.pooling,
        "precision": options.precision,
        **({"tf32": True} if options.tf32 else {}),
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
        windows = _windows(read_rows(resume, stop) if resume < stop else iter(()), options.window)

        def tokenize(window: list[tuple[str, str]]) -> list[list[int]]:
            return tokenize_texts(encoder, [text for _, text in window], max_length)

        projection = encoder.projection(options.precision)
        for window, tokens in _prefetched(windows, tokenize, options.prefetch):
            indptr, indices, data = encode_tokens(
                encoder, tokens, options.batch_size, options.precision, bar.update, projection
            )
            ids = np.asarray([doc_id for doc_id, _ in window], dtype=str)
            _check_window_ids(ids, resume, side, source)
            blocks.add(resume, SparseVectors(indptr, indices, data, ids, model.vocab_size, meta))
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


def _check_window_ids(ids: np.ndarray, first_row: int, side: str, source: str) -> None:
    """SpladeError naming `source` and the rows (counted in the collection) of an id that is not
    one, or that repeats an earlier one of its window."""
    kind = "document" if side == "doc" else "query"
    try:
        hashes = id_hashes(ids, kind, first_row)
    except ValueError as exc:
        raise SpladeError(f"{source}: {exc}") from None
    repeat = first_repeat(hashes, lambda row: id_text(ids[row]))
    if repeat is not None:
        first, second = (first_row + row + 1 for row in repeat)
        value = id_text(ids[repeat[1]])
        raise SpladeError(f"{source}: {kind} id {value!r} appears twice (rows {first} and {second})")


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


def encode_window(
    encoder, texts: list[str], max_length: int, batch_size: int, on_batch=lambda n: None, precision: str = "fp32",
    path: str | None = None,
):  # fmt: skip
    """CSR arrays (indptr, indices, data) of `texts`, in input order; `on_batch(n)` after each batch.
    `path`: the pooling path (`model.pooling.POOLING_PATHS`; default: the device's fastest)."""
    tokens = tokenize_texts(encoder, texts, max_length)
    return encode_tokens(encoder, tokens, batch_size, precision, on_batch, path=path)


def tokenize_texts(encoder, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to `max_length`, unpadded."""
    return encoder.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


@torch.inference_mode()
def encode_tokens(encoder, tokens: list[list[int]], batch_size: int, precision: str = "fp32",
                  on_batch=lambda n: None, projection=None, path: str | None = None):  # fmt: skip
    """CSR arrays (indptr, indices, data) of tokenized texts, in input order: batches of texts
    of similar length (longest first), so that padding costs almost nothing."""
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]), reverse=True)
    device = encoder.device
    projection = projection if projection is not None else encoder.projection(precision)
    rows: list[tuple[np.ndarray, np.ndarray]] = [None] * len(tokens)  # type: ignore[list-item]
    to_host = _ToHost(device)
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        padded = encoder.tokenizer.pad({"input_ids": [tokens[i] for i in batch]}, return_tensors="pt")
        input_ids, attention_mask = (_to_device(padded[key], device) for key in ("input_ids", "attention_mask"))
        dense = encoder.encode_dense(input_ids, attention_mask, precision, projection, path)
        for positions, batch_rows in to_host.push(batch, dense):
            for position, row in zip(positions, batch_rows):
                rows[position] = row
            on_batch(len(positions))
    for positions, batch_rows in to_host.flush():
        for position, row in zip(positions, batch_rows):
            rows[position] = row
        on_batch(len(positions))
    lengths = np.fromiter((len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
    return indptr, indices, data


def encode_sparse(splade: Splade, side: str, texts: Sequence[str], batch_size: int = 32, precision: str = "fp32",
                  progress: bool = False, on_batch: Callable[[int], object] | None = None) -> sp.csr_array:  # fmt: skip
    """SPLADE vectors of `texts` ('doc' or 'query' side) as a float32 CSR matrix, rows in input
    order, batched as the corpus encoder batches (on the model's device)."""
    encoder, max_length = splade.encoder_for(side)
    with tqdm(total=len(texts), desc=f"encode {side}s", disable=not progress, mininterval=5) as bar:
        indptr, indices, data = encode_window(encoder, list(texts), max_length, batch_size,
                                              on_batch or bar.update, precision)  # fmt: skip
    return sp.csr_array((data, indices, indptr), shape=(len(texts), encoder.vocab_size))


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class _ToHost:
    """Dense vectors → (term ids, weights) rows on the host. On CUDA one batch's vectors are
    copied back (to pinned memory, asynchronously) while the next batch is computed: `push`
    returns the rows of the batch before."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.pending = None

    def push(self, positions: list[int], dense: torch.Tensor) -> list[tuple[list[int], list]]:
        if not self.cuda:
            return [(positions, dense_to_rows(dense))]
        host = torch.empty(dense.shape, dtype=dense.dtype, pin_memory=True)
        host.copy_(dense, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        finished = self.flush()
        self.pending = (positions, host, done)
        return finished

    def flush(self) -> list[tuple[list[int], list]]:
        if self.pending is None:
            return []
        positions, host, done = self.pending
        self.pending = None
        done.synchronize()
        return [(positions, dense_to_rows(host))]


def dense_to_rows(dense: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split dense [batch, vocab] vectors into per-row (term ids int32, weights float32)."""
    array = dense.detach().float().cpu().numpy()
    row_idx, term_idx = np.nonzero(array > 0)
    weights = array[row_idx, term_idx].astype(np.float32)
    bounds = np.searchsorted(row_idx, np.arange(1, len(array)))
    return list(zip(np.split(term_idx.astype(np.int32), bounds), np.split(weights, bounds)))


def _prefetched(windows: Iterator[list], tokenize: Callable, prefetch: bool) -> Iterator[tuple[list, list]]:
    """(window, its tokens), the next window read and tokenized in a background thread when
    `prefetch` (the fast tokenizers release the GIL)."""
    if not prefetch:
        yield from ((window, tokenize(window)) for window in windows)
        return

    def next_window():
        window = next(windows, None)
        return None if window is None else (window, tokenize(window))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize") as pool:
        future = pool.submit(next_window)
        while (item := future.result()) is not None:
            future = pool.submit(next_window)
            yield item


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
