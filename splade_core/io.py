"""Atomic file output and small JSON helpers shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import SpladeError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", clean: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    Readers never see a half-written file. An interrupted writer removes its `.tmp-*` file on
    the way out; one that was killed leaves it, and the next writer of `path` removes it
    (`clean=False`: the caller did, and has temporary files of its own there).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean:
        remove_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _naming_full_disk(path):
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; results get the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextlib.contextmanager
def _naming_full_disk(path: Path) -> Iterator[None]:
    """A write that finds no room (disk full, quota, file too large) names the output it was
    writing; the caller removes the partial output on the way out."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in FULL_DISK:
            raise
        raise SpladeError(f"{path}: cannot write ({exc.strerror}); nothing was written") from None


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success rename it to `path`, replacing it.

    Readers never see a half-written folder: an old one is renamed aside, the new one renamed
    in, then the old one removed. A process killed inside leaves `.tmp-<name>.*` folders, which
    `remove_stale_temps(path)` removes later.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}.", dir=path.parent))
    old = tmp.with_name(tmp.name + ".old")
    try:
        with _naming_full_disk(path):
            yield tmp
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, old):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the `.tmp-<name>.*` files and folders that killed writers of `path` left behind.

    Call it only while no other process writes `path` (the caller holds its lock, or is the
    one job Snakemake runs for it). Returns what was removed.
    """
    path = Path(path)
    stale = sorted(path.parent.glob(f".tmp-{path.name}.*")) if path.parent.is_dir() else []
    for leftover in stale:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return stale


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, payload: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def parse_json(text: str | bytes, where: str) -> Any:
    """JSON text read from `where` (a file, or file:line): invalid JSON, nesting deeper than the
    parser's recursion allows, or text that is no valid Unicode (a lone surrogate such as
    "\\ud800") is a SpladeError naming `where`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpladeError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise SpladeError(f"{where}: JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise SpladeError(f"{where}: not UTF-8 text ({exc.reason})") from None
    if _may_hold_surrogates(text) and (problem := text_problem(value)) is not None:
        raise SpladeError(f"{where}: {problem}")
    return value


def _may_hold_surrogates(text: str | bytes) -> bool:
    """Whether parsed JSON text can hold a lone surrogate: only through a \\u escape, or raw (a
    str holding one; bytes 0xED, which json decodes with surrogatepass). A cheap scan that spares
    the walk of `text_problem` for nearly every line of a corpus."""
    if isinstance(text, str):
        return "\\u" in text or not _encodes(text)
    return b"\\u" in text or b"\xed" in text


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: Any) -> str | None:
    """Why a parsed JSON value holds text that cannot be written as UTF-8 (a lone surrogate),
    or None. Walks strings, lists and dicts (keys too)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"text {item[:40]!r} holds a lone surrogate, which is no valid Unicode"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def file_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as a file (missing, a dangling link, a directory, a FIFO or
    device, unreadable), or None."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file (a symbolic link to a missing file)" if path.is_symlink() else "no such file"
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device)"
    if not os.access(path, os.R_OK):
        return "cannot read (permission denied)"
    return None


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SpladeError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_json(text, str(path))


def read_yaml(path: str | os.PathLike) -> Any:
    """A YAML file (safe loading: no tags that run code); a key written twice in one mapping, which
    YAML loaders let the last one win silently, is refused with its line, as is invalid YAML."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise SpladeError(f"{path}: line {key_node.start_mark.line + 1}: key {key!r} is given twice")
                seen.add(key)
            return super().construct_mapping(node, deep)

    path = Path(path)
    if not path.is_file():
        raise SpladeError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpladeError(f"{path}: not valid YAML ({problem}{where})") from None


def json_lines(path: str | os.PathLike, handle) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of JSON-lines text `handle`, read from
    `path`; a line that is not a JSON object stops with one line naming the file and line."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        record = parse_json(line, f"{path}:{number}")
        if not isinstance(record, dict):
            raise SpladeError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        yield number, record
