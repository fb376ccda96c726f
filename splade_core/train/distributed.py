"""Process-group setup for `torchrun` and the collectives the losses need.

A run is distributed when `WORLD_SIZE` > 1 (torchrun sets it with `RANK` and `LOCAL_RANK`):
gloo on CPU, NCCL on CUDA. Losses that look across the batch — in-batch negatives and FLOPS —
see the gathered global micro-batch through `gather_with_grad`, so a run on W processes
computes the same objective and gradient as one process with the same global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import SpladeError


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


def setup(device: str) -> Context:
    """Join the process group when launched by torchrun; pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
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


def _resolve_device(device: str, local_rank: int, world_size: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SpladeError(f"device {device!r} requested but CUDA is not available")
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
