"""Starting a training run's processes: `run(config)`, what `splade train` calls.

With `processes: 1` the run trains in this process. With N > 1 this process starts N ranks on
this machine (`torch.multiprocessing.spawn`), each joining one process group through the
variables torchrun sets (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK): one GPU each
on CUDA (rank i on `cuda:i`), gloo processes sharing the CPU threads otherwise; rank 0 writes
the output. Under SLURM this is one task of the job that asks for N GPUs on one node
(`workflow/rules/train.smk`). A rank that fails ends the others, and its message is the run's
one line. Started by torchrun (WORLD_SIZE set), this process is already one rank: it trains.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

import torch
import torch.multiprocessing as mp

from ..errors import SpladeError
from .config import TrainConfig
from .distributed import check_single_launch
from .loop import train

_EXIT_BAD_INPUT, _EXIT_INTERNAL = 2, 1


def run(config: TrainConfig) -> Path:
    """Train as configured, starting `config.processes` ranks when this process is not one."""
    check_single_launch()
    if "WORLD_SIZE" in os.environ or config.processes == 1:
        return train(config)
    _check_devices(config)
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    errors = Path(tempfile.mkdtemp(prefix=".tmp-launch-", dir=output))
    # spawn logs a warning as it ends the other ranks after a failure; the failure is the one line
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)
    try:
        mp.spawn(_rank, args=(config.to_dict(), _free_port(), str(errors)), nprocs=config.processes, join=True)
    except mp.ProcessExitedException as failure:
        raise _failure(
            errors, f"training process {failure.error_index} ended with exit code {failure.exit_code}"
        ) from None
    except mp.ProcessRaisedException as failure:
        raise _failure(errors, f"training process {failure.error_index} failed: {str(failure).strip()}") from None
    finally:
        shutil.rmtree(errors, ignore_errors=True)
    return output / "model"


def _rank(index: int, values: dict, port: int, errors: str) -> None:
    """One rank of a spawned run (its own process): join the group, train, report a failure."""
    world = values["processes"]
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        RANK=str(index),
        LOCAL_RANK=str(index),
    )
    try:
        train(TrainConfig.from_dict(values))
    except SpladeError as exc:
        _report(errors, index, _EXIT_BAD_INPUT, str(exc))
        raise SystemExit(_EXIT_BAD_INPUT) from None
    except Exception as exc:  # a bug or a device failure: the run's one line, "internal error"
        _report(errors, index, _EXIT_INTERNAL, f"{type(exc).__name__}: {exc}")
        raise SystemExit(_EXIT_INTERNAL) from None


def _report(errors: str, index: int, code: int, message: str) -> None:
    path = Path(errors) / f"rank-{index}.json"
    path.write_text(json.dumps({"rank": index, "code": code, "message": " ".join(message.split())}))


def _failure(errors: Path, fallback: str) -> Exception:
    """The first reported failure (rank 0's if it reported one): a SpladeError for bad input,
    a RuntimeError (an internal error) otherwise."""
    reports = sorted(
        (json.loads(path.read_text()) for path in errors.glob("rank-*.json")),
        key=lambda report: (report["code"] != _EXIT_BAD_INPUT, report["rank"]),
    )
    if not reports:
        return RuntimeError(fallback)
    first = reports[0]
    return (SpladeError if first["code"] == _EXIT_BAD_INPUT else RuntimeError)(first["message"])


def _check_devices(config: TrainConfig) -> None:
    """What would stop every rank at once, said once before they start."""
    if not Path(config.train_examples).is_file():
        raise SpladeError(f"{config.train_examples}: no such training-examples file")
    wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    if wants_cuda:
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible < config.processes:
            raise SpladeError(f"processes: {config.processes} on CUDA needs as many GPUs; {visible} are visible")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
