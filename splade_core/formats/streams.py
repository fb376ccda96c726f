"""What every interchange format's reader and writer share: vector files streamed a row chunk at
a time, plain or gzipped outputs (the same bytes every time), progress bars."""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ..io import atomic_path
from ..sparse import SparseVectors, VectorFile


def require_impacts(vectors: SparseVectors | VectorFile) -> None:
    if not vectors.is_quantized:
        raise ValueError("vectors hold float weights: quantize them to integer impacts first")


def chunks_of(vectors: SparseVectors | VectorFile) -> Iterator[SparseVectors]:
    return vectors.chunks() if isinstance(vectors, VectorFile) else iter([vectors])


@contextmanager
def maybe_gzip(raw: IO[bytes], path: str | os.PathLike, compress: bool | None) -> Iterator[IO[bytes]]:
    """`raw`, gzip-compressed if `compress` is true or, when it is None, if `path` ends in .gz (the
    same bytes every time: no name or time in the gzip header)."""
    if str(path).endswith(".gz") if compress is None else compress:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed:
            yield compressed
    else:
        yield raw


@contextmanager
def progress_bar(enabled: bool, total: int, desc: str, unit: str):
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, mininterval=5) as bar:
        yield bar


@contextmanager
def open_text(path: str | os.PathLike, compress: bool | None) -> Iterator[IO[str]]:
    """A text file written atomically, gzipped as `maybe_gzip` decides."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, maybe_gzip(raw, path, compress) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        try:
            yield text
        finally:
            text.flush()
            text.detach()
