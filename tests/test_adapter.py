"""Adapter seams: exact equality with plain CLIP at initialisation, branch selection, checkpointing."""

from __future__ import annotations

import pytest
import torch

from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.model import FineCLIPER
from finecliper.model.adapter import Adapter, ParallelAdapterSeam, SerialAdapterSeam
from finecliper.model.architectures import ARCHITECTURES, architecture_dict
from finecliper.model.backbone import Backbone, build_clip
from finecliper.model.tokenizer import builtin_tokenizer

CLASSES = class_names("dfew")


def _parameters(name: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build_clip(name).parameters())


# Architectures small enough to build with real weights on a CPU in a test; the others are built on the
# meta device (test_backbone.py).
REAL_SIZE = [name for name in ARCHITECTURES.names() if _parameters(name) < 20_000_000]


def test_the_tests_build_some_architectures_for_real():
    assert {"tiny", "small"} <= set(REAL_SIZE) and "ViT-B/16" not in REAL_SIZE


def _model_and_plain(preset="B16-Full", overrides=(), architecture="tiny"):
    """A FineCLIPER on a seeded CLIP of `architecture`, and a plain transformers CLIPModel with the same weights."""
    from transformers import CLIPModel

    torch.manual_seed(0)
    tok = builtin_tokenizer()
    clip = build_clip(architecture, tok.eos_token_id)
    plain = CLIPModel(clip.config).eval()
    plain.load_state_dict(clip.state_dict())
    cfg = model_config(preset, [f"backbone={architecture}", *overrides])
    model = FineCLIPER(cfg, CLASSES, Backbone(clip, tok, "random")).eval()
    return model, plain


def _plain_image(plain, pixels):
    out = plain.get_image_features(pixel_values=pixels)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _plain_text(plain, ids, mask):
    out = plain.get_text_features(input_ids=ids, attention_mask=mask)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@pytest.mark.parametrize("architecture", REAL_SIZE)
def test_adapted_towers_equal_plain_clip_at_init_for_every_branch(architecture):
    model, plain = _model_and_plain(architecture=architecture)
    size = architecture_dict(architecture)["vision_config"]["image_size"]
    pixels = torch.randn(5, 3, size, size)
    with torch.no_grad():
        expected = _plain_image(plain, pixels)
        for branch in ("video", "parsing", "landmarks", None):
            assert torch.equal(model.encode_images(pixels, branch), expected), branch
        enc = model.tokenizer(["the mouth opens", "A person with an expression of no fear"],
                              padding="max_length", max_length=77, return_tensors="pt")
        expected = _plain_text(plain, enc["input_ids"], enc["attention_mask"])
        for branch in ("pos", "neg", "desc", None):
            got = model.encode_text(enc["input_ids"], branch, enc["attention_mask"])
            assert torch.equal(got, expected), branch


def test_every_layer_carries_both_seams_with_one_adapter_per_branch():
    model, _ = _model_and_plain()
    for layer in model.clip.vision_model.encoder.layers:
        assert isinstance(layer.self_attn, SerialAdapterSeam) and isinstance(layer.mlp, ParallelAdapterSeam)
        assert set(layer.self_attn.adapters) == {"video", "parsing", "landmarks"}
        assert layer.mlp.scale == 0.5
    for layer in model.clip.text_model.encoder.layers:
        assert set(layer.mlp.adapters) == {"pos", "neg", "desc"}
    # The serial adapter keeps a skip connection; the parallel one is scaled and has none.
    assert layer.self_attn.adapters["pos"].skip and not layer.mlp.adapters["pos"].skip


def test_adapter_layers_and_widths_follow_the_config():
    model, _ = _model_and_plain("B16", ["image_adapter_layers=[1]", "adapter_ratio.video=0.5", "adapter_ratio.neg=0"])
    layers = model.clip.vision_model.encoder.layers
    assert not isinstance(layers[0].self_attn, SerialAdapterSeam)
    assert layers[1].self_attn.adapters["video"].down.out_features == 16  # 0.5 x width 32
    assert all("neg" not in layer.mlp.adapters for layer in model.clip.text_model.encoder.layers)
    with pytest.raises(UserError, match="adapter layer 5 does not exist"):
        _model_and_plain("B16", ["image_adapter_layers=[5]"])


def test_pos_and_neg_branches_differ_once_their_adapters_differ():
    model, _ = _model_and_plain()
    with torch.no_grad():
        for module in model.clip.text_model.modules():
            if isinstance(module, Adapter):
                module.up.weight.normal_(0, 0.5)
        ids = model.pos_ids[:2]
        pos = model.encode_text(ids, "pos")
        neg = model.encode_text(ids, "neg")
    assert not torch.allclose(pos, neg)


def test_unknown_branch_is_a_clear_error_and_selection_is_restored_after_an_exception():
    model, _ = _model_and_plain()
    selector = model.text_branch
    with pytest.raises(UserError, match="unknown adapter branch 'video'; this tower has branches: pos, neg, desc"):
        with selector.use("video"):
            pass
    with selector.use("pos"):
        with pytest.raises(RuntimeError):
            with selector.use("neg"):
                assert selector.active == "neg"
                raise RuntimeError("boom")
        assert selector.active == "pos"
    assert selector.active is None


def test_gradient_checkpointing_recomputes_with_the_right_branch():
    """Checkpointed backward recomputes layers after `use()` returned; gradients must not change."""
    grads = []
    for checkpointing in (False, True):
        model, _ = _model_and_plain("B16-PL", [f"gradient_checkpointing={str(checkpointing).lower()}"])
        torch.manual_seed(1)
        for module in model.modules():
            if isinstance(module, Adapter):
                torch.nn.init.normal_(module.up.weight, 0, 0.2)
        model.train()
        gen = torch.Generator().manual_seed(2)
        batch = {k: torch.randn(2, 16, 3, 32, 32, generator=gen) for k in ("frames", "parsing", "landmarks")}
        batch["labels"] = torch.tensor([0, 3])
        # Which branch each tower's first serial seam runs, in the forward pass and in backward.
        calls: dict[str, list] = {"forward": [], "backward": []}
        phase = ["forward"]

        def record(module, args, out, calls=calls, phase=phase):
            calls[phase[0]].append(module.selector.active)

        for tower in (model.clip.vision_model, model.clip.text_model):
            tower.encoder.layers[0].self_attn.register_forward_hook(record)
        loss = model(batch)["loss"]
        phase[0] = "backward"
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
        assert sorted(calls["forward"]) == ["landmarks", "neg", "parsing", "pos", "video"]
        # Checkpointing really happens: backward recomputes every checkpointed layer, with its own branch.
        assert sorted(calls["backward"]) == (sorted(calls["forward"]) if checkpointing else []), calls
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)
