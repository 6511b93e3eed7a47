"""What makes a training step lean on a GPU: checkpointing decided by memory, compiled towers equal to eager
ones, and a step without host-device synchronisation (the last needs a GPU and is skipped without one)."""

from __future__ import annotations

import copy
import logging
import os
import shutil

import pytest
import torch

from finecliper.config.presets import model_config
from finecliper.data.loader import collate
from finecliper.data.prepare import prepare_batch
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.model import build_model
from finecliper.model.compile import compile_towers
from finecliper.training import memory
from finecliper.training.trainer import forward_backward, make_optimizer

CLASSES = class_names("dfew")


def tiny(preset: str, *overrides: str):
    torch.manual_seed(0)
    return build_model(model_config(preset, ["backbone=tiny", "num_frames=2", *overrides]), CLASSES)


def loader_batch(model, b: int = 3, seed: int = 0) -> dict:
    """A collated batch as the loader delivers it: uint8 frames and cue transport arrays, texts, labels."""
    gen = torch.Generator().manual_seed(seed)
    s, t = model.image_size, model.cfg.num_frames
    items = []
    for i in range(b):
        item = {"id": str(i), "label": i % len(CLASSES),
                "frames": torch.randint(0, 256, (t, s, s, 3), generator=gen, dtype=torch.uint8),
                "description": None if i == 1 else f"the brows rise {i} times"}
        if "parsing" in model.cfg.cues:
            item["parsing"] = torch.randint(0, 11, (t, s, s), generator=gen, dtype=torch.uint8)
        if "landmarks" in model.cfg.cues:
            item["landmarks"] = torch.randint(0, 256, (t, s, s, 3), generator=gen, dtype=torch.uint8)
        items.append(item)
    return collate(items)


def test_checkpointing_auto_follows_the_free_memory(monkeypatch, caplog):
    model = tiny("B16-Full", "gradient_checkpointing=auto")
    batch = prepare_batch(loader_batch(model, b=2), "cpu")
    # The estimate is close to what a whole forward pass of the batch keeps for backward.
    model.train()
    whole = memory.saved_bytes(model, lambda: model(batch)["loss"])
    estimate = memory.activation_bytes(model, 2, torch.device("cpu"), "fp32")
    assert 0.8 * whole < estimate < 1.25 * whole
    flagged = [m for m in model.clip.vision_model.modules() if hasattr(m, "gradient_checkpointing")]
    caplog.set_level(logging.INFO, logger="finecliper.training.memory")
    monkeypatch.setattr(memory, "free_bytes", lambda device: 10 * estimate)
    assert memory.resolve_checkpointing(model, 2, torch.device("cpu"), "fp32") is False
    assert not any(m.gradient_checkpointing for m in flagged)
    monkeypatch.setattr(memory, "free_bytes", lambda device: estimate)  # fits, but not with headroom
    assert memory.resolve_checkpointing(model, 2, torch.device("cpu"), "fp32") is True
    assert all(m.gradient_checkpointing for m in flagged)
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == memory.log.name] == [
        "gradient checkpointing off (auto)", "gradient checkpointing on (auto)"]
    assert memory.free_bytes(torch.device("cpu")) > 0  # this machine's MemAvailable


def test_checkpointing_takes_true_false_or_auto():
    assert model_config("B16", ["gradient_checkpointing=auto"]).gradient_checkpointing == "auto"
    assert model_config("B16", ["gradient_checkpointing=true"]).gradient_checkpointing is True
    with pytest.raises(UserError, match="gradient_checkpointing must be true, false or auto"):
        model_config("B16", ["gradient_checkpointing=sometimes"])


COMPILE = pytest.mark.skipif(
    os.environ.get("FINECLIPER_TEST_COMPILE") != "1",
    reason="compiling the towers takes minutes on a CPU (inductor: 547 s for this test on 2 shared cores, where it "
           "passed; aot_eager: over 20 min under heavy load); set FINECLIPER_TEST_COMPILE=1 to run it")
INDUCTOR = pytest.mark.skipif(not (shutil.which("gcc") or shutil.which("cc")),
                              reason="torch.compile's CPU backend (inductor) needs a C compiler; none is installed")


@COMPILE
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=INDUCTOR)])
def test_compiled_towers_equal_eager_ones(backend):
    """aot_eager: the graphs TorchDynamo captures and AOTAutograd splits into forward and backward, run
    eagerly (what inductor would compile); inductor: the real thing."""
    eager = tiny("B16-Full")
    compiled = copy.deepcopy(eager)
    compile_towers(compiled, backend=backend)
    assert list(compiled.trainable_state_dict()) == list(eager.trainable_state_dict())  # names unchanged
    batch = loader_batch(eager)
    outputs = []
    for model in (eager, compiled):
        out = forward_backward(model, batch, torch.device("cpu"), "fp32")
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        outputs.append((out, grads))
    (out_e, grads_e), (out_c, grads_c) = outputs
    for key in ("embedding", "scores", "loss"):
        torch.testing.assert_close(out_c[key], out_e[key], rtol=1e-4, atol=1e-5)
    assert grads_c.keys() == grads_e.keys()
    for key in grads_e:
        torch.testing.assert_close(grads_c[key], grads_e[key], rtol=1e-3, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the host-device sync check needs a CUDA GPU")
def test_a_training_step_never_waits_for_the_gpu():
    device = torch.device("cuda")
    model = tiny("B16-Full").to(device)
    optimizer = make_optimizer(model, type("Cfg", (), {"train": type("T", (), {"weight_decay": 0.05, "lr": 1e-4})})())
    batches = [{k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in loader_batch(model, seed=s).items()}
               for s in range(3)]

    def step(batch):
        out = forward_backward(model, batch, device, "bf16")
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return out["loss"].detach()

    step(batches[0])  # first use: kernels, handles and the palette's copy are set up once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [step(batch) for batch in batches[1:]]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(loss).item() for loss in losses)
