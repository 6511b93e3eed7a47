"""`predict --quantize int8`: the frozen towers' linear layers in int8 on the CPU, outputs close to float32."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from builders import make_clips, random_checkpoint
from finecliper.bench.model import random_batch
from finecliper.cli import main
from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.inference import Predictor
from finecliper.inference.quantize import check_quantize, frozen_linear_names, quantize_int8
from finecliper.inference.scoring import forward
from finecliper.model import build_model
from finecliper.model.adapter import Adapter

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model():
    """A tiny B16-Full model with randomised adapters and heads, in evaluation mode."""
    net = build_model(model_config("B16-Full", ["backbone=tiny"]), class_names("dfew")).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def test_only_the_frozen_encoder_linears_become_int8(model):
    quantized = copy.deepcopy(model)
    names = frozen_linear_names(quantized)
    assert quantize_int8(quantized) == len(names) > 0
    modules = dict(quantized.clip.named_modules())
    dynamic = torch.ao.nn.quantized.dynamic.Linear
    assert all(isinstance(modules[name], dynamic) for name in names)
    adapters = [m for m in quantized.clip.modules() if isinstance(m, Adapter)]
    assert adapters and all(isinstance(m.down, nn.Linear) and isinstance(m.up, nn.Linear) for m in adapters)
    assert not any(isinstance(m, dynamic) for m in quantized.fusion.modules())
    assert isinstance(quantized.clip.visual_projection, nn.Linear)
    # Every parameter the checkpoint trained is still a float tensor, unchanged.
    assert quantized.trainable_state_dict().keys() == model.trainable_state_dict().keys()
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(quantized.trainable_state_dict()[key], value)


def test_clip_embedding_stays_within_cosine_0_999_of_float32(model):
    quantized = copy.deepcopy(model)
    quantize_int8(quantized)
    batch = random_batch(model, 3, model.cfg.num_frames, model.image_size, CPU)
    fp32, int8 = forward(model, batch, CPU, "fp32"), forward(quantized, batch, CPU, "fp32")
    cosine = F.cosine_similarity(fp32["video"], int8["video"], dim=-1)
    assert cosine.min() >= 0.999, cosine
    assert not torch.equal(fp32["video"], int8["video"])  # it did run in int8
    assert torch.equal(fp32["scores"].argmax(-1), int8["scores"].argmax(-1))


def test_quantize_needs_eval_mode(model):
    with pytest.raises(ValueError, match="evaluation mode"):
        quantize_int8(copy.deepcopy(model).train())


@pytest.mark.parametrize("mode,device,message", [
    ("int4", "cpu", "unknown --quantize 'int4' (use none or int8)"),
    ("int8", "cuda", "--quantize int8 runs on the CPU only"),
    ("int8", "cuda:1", "--quantize int8 runs on the CPU only"),
])
def test_bad_quantize_requests(mode, device, message):
    with pytest.raises(UserError) as exc:
        check_quantize(mode, torch.device(device))
    assert str(exc.value).startswith(message)


def test_predict_quantize_int8_end_to_end(tmp_path, capsys):
    ckpt = random_checkpoint(tmp_path / "ckpt.safetensors", "B16", seed=1)
    clip = make_clips(tmp_path / "clips", 1)[0]
    args = ["predict", str(clip.full_path), "--checkpoint", str(ckpt), "--crop", "none", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)["predictions"][0]
    assert main([*args, "--quantize", "int8"]) == 0
    quantized = json.loads(capsys.readouterr().out)["predictions"][0]
    assert quantized["label"] == plain["label"]
    assert quantized["scores"] == pytest.approx(plain["scores"], abs=0.02)
    assert Predictor(ckpt, crop="none", quantize="int8").precision == "fp32"


def test_bench_quantize_prints_its_figures(capsys):
    assert main(["bench", "quantize", "--set", "backbone=tiny", "--set", "num_frames=4", "--steps", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quantized_layers"] > 0 and result["speedup"] > 0 and result["cosine_min"] >= 0.999
