"""Atomic training checkpoints: everything a run needs to continue bit-identically.

``<output>/checkpoints/step-00000100/`` holds
- ``doc_encoder.safetensors`` (and ``query_encoder.safetensors`` when separate): weights;
- ``trainer_state.pt``: optimizer, LR scheduler, grad scaler, λ schedules and the torch/CUDA
  RNG states of every rank — tensors and plain containers only, read with
  ``torch.load(weights_only=True)``;
- ``state.json``: format tag, step, data position, the run's config, Python and NumPy RNG
  states.

A checkpoint is written into ``.tmp-step-*``, every file and the folder fsynced, then renamed
into place and the parent fsynced: a folder named ``step-*`` is always complete. Older ones
beyond `keep` are removed afterwards; leftovers of a killed write are removed on the next start.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from ..errors import SpladeError

FORMAT = "splade-core/train-checkpoint"
VERSION = 1
STEP_DIR = re.compile(r"^step-(\d{8})$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int

    def read_state(self) -> dict[str, Any]:
        state = json.loads((self.path / "state.json").read_text())
        if state.get("format") != FORMAT or state.get("version") != VERSION:
            raise SpladeError(f"{self.path}: not a {FORMAT} v{VERSION} checkpoint")
        return state

    def read_trainer_state(self, device: torch.device) -> dict[str, Any]:
        return torch.load(self.path / "trainer_state.pt", map_location=device, weights_only=True)


def list_checkpoints(directory: Path) -> list[Checkpoint]:
    if not directory.is_dir():
        return []
    found = [
        Checkpoint(p, int(m.group(1))) for p in directory.iterdir() if (m := STEP_DIR.match(p.name)) and p.is_dir()
    ]
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def remove_partial(directory: Path) -> None:
    """Remove temporary folders a killed checkpoint write left behind."""
    if directory.is_dir():
        for path in directory.glob(".tmp-step-*"):
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(
    directory: Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    trainer_state: dict[str, Any],
    state: dict[str, Any],
    keep: int = 1,
) -> Path:
    """Write checkpoint `step` atomically; keep the newest `keep` checkpoints."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}"
    tmp = directory / f".tmp-step-{step:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, module in modules.items():
        save_model(module, str(tmp / f"{name}.safetensors"))
    torch.save(trainer_state, tmp / "trainer_state.pt")
    (tmp / "state.json").write_text(
        json.dumps({"format": FORMAT, "version": VERSION, "step": step, **state}, indent=1) + "\n"
    )
    for path in tmp.iterdir():
        _fsync_file(path)
    _fsync_dir(tmp)
    if final.exists():  # a re-run of a finished step: replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(directory)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)
    return final


def load_weights(checkpoint: Checkpoint, modules: dict[str, torch.nn.Module]) -> None:
    for name, module in modules.items():
        path = checkpoint.path / f"{name}.safetensors"
        if not path.is_file():
            raise SpladeError(f"{checkpoint.path}: no {path.name} (written with another encoder layout?)")
        missing, unexpected = load_model(module, str(path), strict=True)
        if missing or unexpected:
            raise SpladeError(
                f"{path}: weights do not match the model ({len(missing)} missing, {len(unexpected)} unexpected)"
            )


def host_rng_state() -> dict[str, Any]:
    """Python and NumPy global RNG states as JSON-able values."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    numpy_state = {
        **numpy_state,
        "state": {"key": numpy_state["state"]["key"].tolist(), "pos": int(numpy_state["state"]["pos"])},
    }
    return {"python": [version, list(internal), gauss], "numpy": numpy_state}


def set_host_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {
        "key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
        "pos": numpy_state["state"]["pos"],
    }
    np.random.set_state(numpy_state)


def torch_rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_torch_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
