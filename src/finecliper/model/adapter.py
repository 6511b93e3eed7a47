"""Bottleneck adapters, injected into an existing CLIP encoder as named branch sets.

Layout [PAPER, after AIM]: in every adapted encoder layer one adapter follows self-attention (serial,
with its own skip connection) and one runs beside the MLP on the MLP's input, its output scaled by s.
The up-projections start at zero, so an adapted tower computes exactly what plain CLIP computes until
training moves them; the equality tests guard these seams.

Weights are frozen, so several visual streams (frames, parsing maps, landmark images) share one image
tower and differ only in their adapters; likewise the positive, negative and description sentences on
the text tower. Each seam holds a dict of adapters keyed by branch name, and a tower's `BranchSelector`
says which one is active (`with selector.use("parsing"): ...`). Instead of re-implementing CLIP the
seams wrap the layer's own `self_attn` and `mlp` modules (as peft does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from finecliper.errors import UserError


class Adapter(nn.Module):
    """Linear(d -> b) -> GELU -> Linear(b -> d), plus the input when `skip` is set."""

    def __init__(self, dim: int, bottleneck: int, skip: bool):
        super().__init__()
        self.skip = skip
        self.down = nn.Linear(dim, bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, dim)
        # Zero up-projection: the adapter starts as the identity (skip) or as zero (parallel).
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.act(self.down(x)))
        return x + y if self.skip else y


class BranchSelector:
    """Which adapter branch of one tower is active; shared by all of that tower's seams.

    `None` is plain CLIP. A known branch whose adapters are disabled (width 0) also runs plain CLIP.
    """

    def __init__(self, branches: Sequence[str]):
        self.branches = tuple(branches)
        self.active: str | None = None

    def _check(self, branch: str | None) -> None:
        if branch is not None and branch not in self.branches:
            known = ", ".join(self.branches) or "none"
            raise UserError(f"unknown adapter branch {branch!r}; this tower has branches: {known}")

    @contextmanager
    def use(self, branch: str | None) -> Iterator[None]:
        """Run the body with `branch` active, restoring the previous branch afterwards, also on error."""
        self._check(branch)
        previous = self.active
        self.active = branch
        try:
            yield
        finally:
            self.active = previous

    def checkpoint_contexts(self):
        """`context_fn` for non-reentrant activation checkpointing.

        The backward pass recomputes a checkpointed layer after `use()` has returned, so the branch that
        was active in the forward pass must be re-activated for the recomputation, or the gradients of
        one branch would be computed with another branch's adapters.
        """
        return nullcontext(), self.use(self.active)


class SerialAdapterSeam(nn.Module):
    """Wraps a layer's self-attention: attention output -> adapter of the active branch (with skip)."""

    def __init__(self, base: nn.Module, selector: BranchSelector, adapters: nn.ModuleDict):
        super().__init__()
        self.base = base
        self.adapters = adapters
        self.selector = selector

    def forward(self, *args, **kwargs):
        out, weights = self.base(*args, **kwargs)  # CLIPAttention returns (output, attention weights)
        branch = self.selector.active
        if branch in self.adapters:
            out = self.adapters[branch](out)
        return out, weights


class ParallelAdapterSeam(nn.Module):
    """Wraps a layer's MLP: mlp(x) + s * adapter(x) for the active branch."""

    def __init__(self, base: nn.Module, selector: BranchSelector, adapters: nn.ModuleDict, scale: float):
        super().__init__()
        self.base = base
        self.adapters = adapters
        self.selector = selector
        self.scale = scale

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out = self.base(hidden_states)
        branch = self.selector.active
        if branch in self.adapters:
            out = out + self.scale * self.adapters[branch](hidden_states)
        return out


def inject_adapters(
    layers: nn.ModuleList,
    dim: int,
    widths: dict[str, int],
    adapted_layers: Sequence[int] | None,
    scale: float,
) -> BranchSelector:
    """Wrap `self_attn` and `mlp` of each adapted encoder layer with seams holding one adapter per branch.

    `widths` maps every branch of this tower to its bottleneck width; width 0 registers the branch
    without adapters (it then runs plain CLIP). Returns the tower's selector, initially on no branch.
    """
    selector = BranchSelector(list(widths))
    indices = range(len(layers)) if adapted_layers is None else adapted_layers
    for i in indices:
        if not 0 <= i < len(layers):
            raise UserError(f"adapter layer {i} does not exist: this tower has layers 0..{len(layers) - 1}")
    active = {b: w for b, w in widths.items() if w > 0}
    if not active:
        return selector
    for i in sorted(set(indices)):
        layer = layers[i]
        serial = nn.ModuleDict({b: Adapter(dim, w, skip=True) for b, w in active.items()})
        parallel = nn.ModuleDict({b: Adapter(dim, w, skip=False) for b, w in active.items()})
        layer.self_attn = SerialAdapterSeam(layer.self_attn, selector, serial)
        layer.mlp = ParallelAdapterSeam(layer.mlp, selector, parallel, scale)
    return selector


def bottleneck_width(ratio: float, dim: int) -> int:
    """Adapter width for a ratio of the tower width; any positive ratio gives at least 1."""
    if ratio <= 0:
        return 0
    return max(1, round(ratio * dim))
