"""Process-group setup and the collectives the losses need.

A run is distributed when `WORLD_SIZE` > 1 (set with `RANK` and `LOCAL_RANK` by
`splade_core.train.launch` or torchrun): gloo on CPU, NCCL on CUDA, each rank on its own
device (`cuda:LOCAL_RANK`). Losses that look across the batch — in-batch negatives and FLOPS —
see the gathered global micro-batch through `gather_with_grad`, so a run on W processes
computes the same objective and gradient as one process with the same global batch.

A process that was started as one of several tasks without these variables (`srun --ntasks=N`,
`mpirun -n N`) would be one of N independent runs writing one output: it is refused, and so is a
second run on an output that a running one holds (`output_lock`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from ..errors import SpladeError
from ..tasks import GROUP_VARIABLE, TASK_VARIABLES, sibling_tasks

LOCK_FILE = ".lock"


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    # A separate group for the gathers inside the loss, so they never interleave with the
    # gradient all-reduces DDP issues from autograd hooks on the default group.
    loss_group: object = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def check_single_launch() -> None:
    """Refuse a process started as one of several tasks that are no process group."""
    if GROUP_VARIABLE in os.environ:
        return
    siblings = sibling_tasks(TASK_VARIABLES)
    if siblings is not None:
        variable, count = siblings
        raise SpladeError(
            f"started as one of {count} tasks ({variable}={count}) without a process group: they would be "
            f"{count} independent runs writing one output; start one task and set processes: {count} "
            "(`splade train` starts its processes itself)"
        )


def setup(device: str, processes: int = 1) -> Context:
    """Join the process group of a launched rank (or run alone); pick this rank's device."""
    check_single_launch()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size == 1 and processes > 1:
        raise SpladeError(
            f"processes: {processes} needs its processes started: `splade train` (splade_core.train.launch.run) "
            "or torchrun does it"
        )
    if world_size > 1 and processes not in (1, world_size):
        raise SpladeError(f"{world_size} processes were started, but processes is {processes}")
    resolved = _resolve_device(device, local_rank, world_size)
    if world_size == 1:
        return Context(0, 1, 0, resolved)
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    loss_group = dist.new_group(backend=dist.get_backend())
    return Context(rank, world_size, local_rank, resolved, loss_group)


def teardown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, context: Context) -> Iterator[None]:
    """Rank 0 holds `output`/.lock while it trains: a second run on the same output (a duplicate
    job, a second launch) stops with one line instead of writing the same checkpoints."""
    if not context.main:
        yield
        return
    from filelock import FileLock, Timeout

    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise SpladeError(
            f"{folder}: another training run holds this output ({LOCK_FILE}); wait for it to end"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _resolve_device(device: str, local_rank: int, world_size: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpladeError(f"device {device!r} requested but CUDA is not available")
        if world_size > 1 and device != "cuda":
            raise SpladeError(f"device {device!r} would put all {world_size} processes on one GPU; say cuda")
        if world_size > 1 and local_rank >= torch.cuda.device_count():
            raise SpladeError(
                f"process {local_rank} of this node has no GPU of its own: {torch.cuda.device_count()} are visible"
            )
        if device == "cuda":
            return torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
    return torch.device(device)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0; backward sums every rank's gradient for this rank's slice.

    Each rank's loss depends on every rank's rows (in-batch negatives, FLOPS over the gathered
    batch), so the gradient of the global objective for local rows is the sum over ranks of
    ∂loss_r/∂rows: an all-reduce of the gathered gradient, then this rank's slice. With DDP's
    gradient averaging this gives exactly the gradient of the mean of the per-rank losses.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        world_size = dist.get_world_size(group)
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        ctx.rows = tensor.shape[0]
        gathered = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(gathered, tensor.contiguous(), group=group)
        return torch.cat(gathered, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = ctx.rank * ctx.rows
        return grad[start : start + ctx.rows], None


def gather_with_grad(tensor: torch.Tensor, context: Context) -> torch.Tensor:
    """Rows of every rank, rank order (equal row counts); identity in a single process."""
    if not context.distributed:
        return tensor
    return _GatherWithGrad.apply(tensor, context.loss_group)


def mean_over_ranks(values: torch.Tensor, context: Context) -> torch.Tensor:
    """Mean of a tensor over ranks (for logged metrics)."""
    if not context.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / context.world_size
