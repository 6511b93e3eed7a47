"""The description alignment over the global batch (docs/design.md §3): two gloo processes, each holding half
of a batch, give the loss and the gradients (after DDP's averaging) of one process holding all of it."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.model import build_model
from finecliper.model.description import alignment_loss
from finecliper.training.trainer import forward_backward

CLASSES = class_names("dfew")
FRAMES = 2
BATCH = 6  # global: 3 clips per process
TEXTS = [f"the brows rise {i} times and the lips part" for i in range(BATCH)]
# Which clips have a description: all; or one process with none at all (it must still take part).
CASES = {"every clip described": TEXTS, "one process without texts": TEXTS[:2] + [""] * 4}


def _model(pn_loss: str):
    """The same tiny B16-FT in every process, its trainable tensors randomised so that every one of them has
    a gradient (zero-initialised up-projections and gate would hide half of them)."""
    torch.manual_seed(0)
    model = build_model(model_config("B16-FT", ["backbone=tiny", f"num_frames={FRAMES}", f"pn_loss={pn_loss}"]),
                        CLASSES)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.train()


def _batch(texts: list[str], rows: slice = slice(None)) -> dict:
    gen = torch.Generator().manual_seed(1)
    frames = torch.randn((BATCH, FRAMES, 3, 32, 32), generator=gen)
    labels = torch.tensor([0, 3, 1, 4, 6, 2])
    return {"frames": frames[rows], "labels": labels[rows], "descriptions": texts[rows]}


def _losses_and_grads(model, out: dict) -> dict:
    losses = {k: float(v.detach()) for k, v in out.items() if k.startswith("loss")}
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return {"losses": losses, "grads": grads}


def _worker(rank: int, world: int, port: int, texts: list[str], pn_loss: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    # A hang (a collective one process skipped) fails within a minute instead of blocking the suite.
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        model = _model(pn_loss)
        # As the trainer wraps it, and through the trainer's own step function.
        net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
        half = BATCH // world
        out = forward_backward(net, _batch(texts, slice(rank * half, (rank + 1) * half)), torch.device("cpu"), "fp32")
        torch.save(_losses_and_grads(model, out), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("case", "pn_loss"), [("every clip described", "separate"),
                                               ("one process without texts", "joint")])
def test_two_processes_equal_one_process_on_the_global_batch(case, pn_loss, tmp_path):
    texts = CASES[case]
    model = _model(pn_loss)
    one = _losses_and_grads(model, forward_backward(model, _batch(texts), torch.device("cpu"), "fp32"))

    mp.spawn(_worker, args=(2, _free_port(), texts, pn_loss, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    # Every process computes the whole batch's alignment loss; the PN terms are means over each half,
    # whose mean is the whole batch's (the halves are equal), and so is the mean of the total loss.
    for r in ranks:
        assert abs(r["losses"]["loss_align"] - one["losses"]["loss_align"]) < 1e-5
    for key in one["losses"]:
        mean = sum(r["losses"][key] for r in ranks) / 2
        assert abs(mean - one["losses"][key]) < 1e-5, key
    # DDP leaves the averaged gradients on every process: those of the one process.
    assert ranks[0]["grads"].keys() == one["grads"].keys() == ranks[1]["grads"].keys()
    assert any(".adapters.desc." in name for name in one["grads"])
    worst = max(float((ranks[0]["grads"][n] - g).abs().max()) for n, g in one["grads"].items())
    scale = max(float(g.abs().max()) for g in one["grads"].values())
    assert worst < 1e-5 * max(1.0, scale), (worst, scale)
    for n, g in ranks[0]["grads"].items():
        torch.testing.assert_close(ranks[1]["grads"][n], g)
    print(f"\n{case}, pn_loss={pn_loss}: max |loss diff| "
          f"{max(abs(sum(r['losses'][k] for r in ranks) / 2 - v) for k, v in one['losses'].items()):.2e}, "
          f"max |grad diff| {worst:.2e} (largest gradient {scale:.2e})")


def test_the_per_process_loss_would_differ():
    """The check above can fail: aligning each half within itself is another loss (fewer negatives)."""
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(BATCH, 8, generator=gen), dim=-1)
    d = torch.nn.functional.normalize(torch.randn(BATCH, 8, generator=gen), dim=-1)
    has = torch.ones(BATCH, dtype=torch.bool)
    whole = alignment_loss(v, d, has, 10.0)
    halves = (alignment_loss(v[:3], d[:3], has[:3], 10.0) + alignment_loss(v[3:], d[3:], has[3:], 10.0)) / 2
    assert abs(float(whole - halves)) > 1e-2


def test_rows_without_a_description_are_neither_queries_nor_candidates():
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(5, 8, generator=gen), dim=-1)
    d = torch.nn.functional.normalize(torch.randn(5, 8, generator=gen), dim=-1)
    has = torch.tensor([True, False, True, True, False])
    keep = has.nonzero().squeeze(1)
    masked = alignment_loss(v, d.masked_fill(~has[:, None], 0.0), has, 10.0)
    torch.testing.assert_close(masked, alignment_loss(v[keep], d[keep], torch.ones(3, dtype=torch.bool), 10.0))
    assert float(alignment_loss(v, d, torch.zeros(5, dtype=torch.bool), 10.0)) == 0.0
