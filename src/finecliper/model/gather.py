"""The rows of every process's tensor, with gradients: the global batch of the description alignment.

Under `torchrun` each process holds a micro-batch. The alignment loss (model/description.py) contrasts
every clip with every description of the global batch, so each process gathers all processes' clip and
description embeddings and computes the same global loss. The gradient of that loss reaches a process's
own rows from every process's copy of the loss: the backward pass sums the gathered gradient over the
processes (all-reduce) and keeps the process's own rows. DDP then averages the parameters' gradients
over the processes, so the step equals one process's step on the whole batch (docs/design.md §3).

A custom autograd function rather than `torch.distributed.nn.functional.all_gather`, whose backward
needs a reduce-scatter or all-to-all that not every backend offers (gloo, the CPU backend); an
all-reduce exists everywhere and costs nothing at these sizes (a few hundred rows of a few hundred floats).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes in the default group; 1 when there is none."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()  # reduced in place: never change the tensor autograd handed us
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) on every process -> (world * N, ...) in rank order, differentiable. Every process must call
    it with the same N, and every process's backward pass must reach it (it is a collective both ways)."""
    return _GatherRows.apply(x) if world_size() > 1 else x
