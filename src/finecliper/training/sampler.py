"""Deterministic training clip order per epoch, sharded over processes, resumable in the middle of an epoch.

A permutation seeded by (seed, epoch), padded by wrapping around to a multiple of the world size so every
process takes the same number of steps, then split by rank; `start` skips the clips already consumed
before a resume, so a resumed run sees exactly the batches an unbroken run would. (Evaluation shards
without padding: training/evaluate.py.)
"""

from __future__ import annotations

import numpy as np
import torch


class TrainOrder(torch.utils.data.Sampler[int]):
    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch = 0
        self.start = 0  # clips of this process's share already consumed in this epoch

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def per_process(self) -> int:
        return -(-self.size // self.world)  # ceil

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        total = self.per_process() * self.world
        order = np.resize(order, total)  # wraps around: pads with the permutation's first clips
        mine = order[self.rank :: self.world]
        return iter(mine[self.start :].tolist())

    def __len__(self) -> int:
        return self.per_process() - self.start
