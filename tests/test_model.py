"""The FineCLIPER network: every preset runs, only adapters and heads learn, descriptions mix as specified."""

from __future__ import annotations

import pytest
import torch

from finecliper.config.presets import ABLATIONS, PRESETS, model_config
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.model import build_model

CLASSES = class_names("dfew")
T = 16


def tiny(preset: str, *overrides: str):
    torch.manual_seed(0)
    return build_model(model_config(preset, ["backbone=tiny", *overrides]), CLASSES)


def make_batch(model, b=3, descriptions=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape = (b, T, 3, model.image_size, model.image_size)
    batch = {"frames": torch.randn(shape, generator=gen), "labels": torch.arange(b) % len(CLASSES)}
    for cue in model.cfg.cues:
        batch[cue] = torch.randn(shape, generator=gen)
    if model.cfg.descriptions and descriptions:
        batch["descriptions"] = [f"the brows rise {i} times and the lips part" for i in range(b)]
    return batch


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("with_descriptions", [True, False])
def test_every_preset_runs_forward_and_backward(preset, with_descriptions):
    model = tiny(preset)
    model.train()
    out = model(make_batch(model, descriptions=with_descriptions))
    assert out["scores"].shape == (3, len(CLASSES))
    assert out["embedding"].shape == out["video"].shape == (3, model.clip.config.projection_dim)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    # Every trainable tensor takes part in the forward pass and gets a gradient, except, in a batch without
    # descriptions, the description adapters and the adaptive-weight gate (such clips keep w = 1).
    unused = set() if with_descriptions else {
        name for name in trainable if ".adapters.desc." in name or name.startswith("weight_gate.")}
    assert {name for name, p in trainable.items() if p.grad is None} == unused
    for name, p in trainable.items():
        if name not in unused:
            assert torch.isfinite(p.grad).all(), name
    if model.cfg.descriptions and with_descriptions:
        assert torch.isfinite(out["loss_align"]) and out["description"] is not None
    else:
        assert "loss_align" not in out and torch.equal(out["weight"], torch.ones(3))


def trainable_shapes(model) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in model.named_parameters() if p.requires_grad}


def scores_with_random_trainables(model) -> torch.Tensor:
    """Scores of a fixed batch after every trainable tensor is drawn afresh from one seed (in name order),
    so that two models with the same trainable tensors differ only in what their configs make them compute."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in sorted((n, p) for n, p in model.named_parameters() if p.requires_grad):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        return model.eval()(make_batch(model))["scores"]


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_every_ablation_changes_the_model(ablation):
    base, model = tiny("B16-Full"), tiny("B16-Full", *ABLATIONS[ablation])
    out = model(make_batch(model))
    assert torch.isfinite(out["loss"])
    if trainable_shapes(model) == trainable_shapes(base):
        # The same trainable tensors (negation, adapter scale): the override must change the computation.
        assert not torch.allclose(scores_with_random_trainables(model), scores_with_random_trainables(base))
    else:  # a branch, its adapters or the gate removed
        assert set(trainable_shapes(model)) < set(trainable_shapes(base))


def test_text_embeddings_do_not_depend_on_padding():
    """Texts are padded to the batch's longest only: the causal tower pools at the end-of-text token."""
    model = tiny("B16-Full")
    for module in model.modules():  # non-zero adapters, so that every branch's seams take part
        if hasattr(module, "up") and isinstance(module.up, torch.nn.Linear):
            torch.nn.init.normal_(module.up.weight, std=0.1)
    model.eval()
    texts = ["a face", "the eyebrows rise, then settle back; the jaw drops and the lips part"]
    full = model.tokenizer(texts, padding="max_length", max_length=model.context_length, return_tensors="pt")
    with torch.no_grad():
        for branch in ("pos", "desc"):
            padded = model.encode_text(full["input_ids"], branch, full["attention_mask"])
            assert torch.allclose(model.encode_text(texts, branch), padded, atol=1e-5)


def test_training_changes_exactly_the_trainable_tensors():
    model = tiny("B16-Full")
    model.train()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    buffers_before = {n: b.clone() for n, b in model.named_buffers()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    optimizer_tensors = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimizer_tensors == {id(p) for p in model.parameters() if p.requires_grad}
    for step in range(3):  # zero-initialised up-projections: down-projections get gradients from step 2
        optimizer.zero_grad()
        model(make_batch(model, seed=step))["loss"].backward()
        optimizer.step()
    for name, p in model.named_parameters():
        if name in frozen_before:
            assert torch.equal(p, frozen_before[name]), f"frozen tensor {name} changed"
        else:
            assert not torch.equal(p, trainable_before[name]), f"trainable tensor {name} did not change"
    for name, b in model.named_buffers():
        assert torch.equal(b, buffers_before[name]), name


def test_trainable_set_is_adapters_fusion_and_gate_only():
    model = tiny("B16-Full")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(".adapters." in n or n.startswith(("fusion.", "weight_gate.")) for n in names)
    assert any(n.startswith("weight_gate.") for n in names)
    assert "log_logit_scale" not in names
    assert set(model.trainable_state_dict()) == set(names)
    learnable = tiny("B16", "learn_logit_scale=true")
    assert "log_logit_scale" in learnable.trainable_state_dict()


def test_clip_without_description_uses_video_alone():
    model = tiny("B16-FT").eval()
    batch = make_batch(model)
    batch["descriptions"] = [None, "the mouth corners rise slowly", "  "]
    with torch.no_grad():
        out = model(batch)
    assert out["weight"][0] == 1 and out["weight"][2] == 1
    assert torch.equal(out["embedding"][0], out["video"][0])
    assert 0 < float(out["weight"][1]) < 1  # adaptive weight in (0, 1)
    assert not torch.allclose(out["embedding"][1], out["video"][1])


def test_fixed_weight_mixes_normalised_video_and_text():
    model = tiny("B16-FT", "video_weight=0.3").eval()
    assert model.weight_gate is None
    with torch.no_grad():
        out = model(make_batch(model))
    torch.testing.assert_close(out["weight"], torch.full((3,), 0.3))
    expected = torch.nn.functional.normalize(0.3 * out["video"] + 0.7 * out["description"], dim=-1)
    torch.testing.assert_close(out["embedding"], expected)


def test_pn_scores_and_losses_follow_the_definition():
    model = tiny("B16").eval()
    batch = make_batch(model)
    with torch.no_grad():
        out = model(batch)
        p, n = model.pn_embeddings()
    z = out["embedding"]
    torch.testing.assert_close(out["scores"], z @ p.t() - z @ n.t())
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(out["loss_pos"], ce(100 * z @ p.t(), batch["labels"]))
    torch.testing.assert_close(out["loss_neg"], ce(-100 * z @ n.t(), batch["labels"]))
    assert model.positive_sentences[0] == "A person with an expression of happiness"
    assert model.negative_sentences[6] == "A person with an expression of no fear"
    assert tiny("B16", "negation=less").negative_sentences[0] == "A person with an expression of less happiness"
    positive_only = tiny("B16", "use_negative=false")
    out = positive_only(make_batch(positive_only))
    assert out["neg_sim"] is None and float(out["loss_neg"]) == 0.0


def test_joint_pn_loss_is_the_cross_entropy_of_the_decision_score():
    model = tiny("B16", "pn_loss=joint").eval()
    batch = make_batch(model)
    with torch.no_grad():
        out = model(batch)
    s = out["pos_sim"] - out["neg_sim"]
    torch.testing.assert_close(out["scores"], s)
    torch.testing.assert_close(out["loss_pn"], torch.nn.functional.cross_entropy(100 * s, batch["labels"]))
    assert "loss_pos" not in out and "loss_neg" not in out
    torch.testing.assert_close(out["loss"], out["loss_pn"])
    # Without negative sentences both forms are CE(τ·pos).
    joint, separate = tiny("B16", "pn_loss=joint", "use_negative=false"), tiny("B16", "use_negative=false")
    torch.testing.assert_close(joint(make_batch(joint))["loss"], separate(make_batch(separate))["loss"])


@pytest.mark.parametrize("kind", ["pos", "pos_minus_neg"])
def test_zero_shot_models_score_by_model_zero_shot_score(kind):
    supervised = tiny("B16", f"zero_shot_score={kind}").eval()
    torch.manual_seed(0)
    zero_shot = build_model(model_config("B16", ["backbone=tiny", f"zero_shot_score={kind}"]), CLASSES,
                            zero_shot=True).eval()
    batch = make_batch(zero_shot)
    with torch.no_grad():
        out, sup = zero_shot(batch), supervised(batch)
    # A supervised model always scores pos - neg; a zero-shot one as configured.
    torch.testing.assert_close(sup["scores"], sup["pos_sim"] - sup["neg_sim"])
    expected = out["pos_sim"] if kind == "pos" else out["pos_sim"] - out["neg_sim"]
    torch.testing.assert_close(out["scores"], expected)
    assert zero_shot.score_kind == kind and supervised.score_kind == "pos_minus_neg"


def test_zero_shot_training_has_alignment_loss_without_labels():
    model = tiny("B16-FT")
    batch = make_batch(model)
    del batch["labels"]
    out = model(batch)
    assert "loss_pos" not in out
    torch.testing.assert_close(out["loss"], out["loss_align"])


def test_pn_text_embeddings_are_cached_in_evaluation_only():
    model = tiny("B16").eval()
    first = model.pn_embeddings()
    assert model.pn_embeddings() is first
    model.train()
    assert model.pn_embeddings() is not first
    # Back in evaluation the cache starts afresh (the adapters may have trained meanwhile) ...
    model.eval()
    second = model.pn_embeddings()
    assert second is not first and model.pn_embeddings() is second
    # ... and new tensors (a checkpoint) drop it too.
    model.load_state_dict(model.state_dict())
    assert model.pn_embeddings() is not second


def test_fusion_heads_must_divide_the_fusion_width():
    with pytest.raises(UserError, match="fusion_heads=7 does not divide the fusion width 32"):
        tiny("B16", "fusion_heads=7")
    with pytest.raises(UserError, match="fusion_heads=7 does not divide the fusion width 512"):
        build_model(model_config("B16", ["fusion_heads=7"]), CLASSES, meta=True)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.update(frames=b["frames"][:, :8]), "frames has 8 frames but the model takes 16"),
        (lambda b: b.update(frames=b["frames"][..., :16]), "frames must have shape \\(B, 16, 3, 32, 32\\)"),
        (lambda b: b.update(frames=b["frames"][0]), "frames must have shape"),
        (lambda b: b.pop("parsing"), "uses parsing cues but the batch has no 'parsing' images"),
        (lambda b: b.update(landmarks=b["landmarks"][:1]), "landmarks has shape \\(1, 16, 3, 32, 32\\) but frames have"),
        (lambda b: b.update(descriptions=["one"]), "the batch has 3 clips but 1 descriptions"),
    ],
)
def test_bad_batches_are_one_sentence(mutate, message):
    model = tiny("B16-Full")
    batch = make_batch(model)
    mutate(batch)
    with pytest.raises(UserError, match=message):
        model(batch)


def test_meta_counts_equal_real_counts():
    cfg = model_config("B16-Full", ["backbone=tiny"])
    assert build_model(cfg, CLASSES, meta=True).count_parameters() == build_model(cfg, CLASSES).count_parameters()


def test_loaded_trainable_tensors_take_the_models_dtype_and_drop_the_pn_cache():
    from finecliper.inference.checkpoint import load_trainable

    model = tiny("B16").to(torch.bfloat16).eval()
    first = model.pn_embeddings()
    state = {k: torch.randn(v.shape) for k, v in model.trainable_state_dict().items()}  # float32
    load_trainable(model, state, "test")
    for key, value in model.trainable_state_dict().items():
        assert value.dtype == torch.bfloat16 and torch.equal(value, state[key].to(torch.bfloat16)), key
    assert not model.training and model.pn_embeddings() is not first


def test_bench_model_times_the_training_and_inference_code(monkeypatch):
    """`finecliper bench model` measures the functions training and prediction run, not a copy of them."""
    from finecliper.bench import model as bench
    from finecliper.inference import scoring
    from finecliper.training import trainer

    assert bench.forward_backward is trainer.forward_backward and bench.forward is scoring.forward
    calls = []
    monkeypatch.setattr(bench, "forward_backward", lambda *a, **k: calls.append("train") or trainer.forward_backward(*a, **k))
    monkeypatch.setattr(bench, "forward", lambda *a, **k: calls.append("infer") or scoring.forward(*a, **k))
    result = bench.run("B16-Full", ["backbone=tiny", "num_frames=4"], warmup=1, steps=2)
    # warm-up + 2 timed steps; the inference cache warm-up + 2 timed passes; then one of each, counted
    assert calls == ["train"] * 3 + ["infer"] * 3 + ["train", "infer"]
    assert list(result) == [
        "preset", "device", "device_name", "threads", "dtype", "batch_size", "frames", "image_size", "tunable",
        "total", "train_step_s", "train_clips_per_s", "inference_s", "inference_clips_per_s", "peak_memory_mb",
        "peak_memory_kind", "rss_before_step_mb", "inference_peak_memory_mb", "activation_estimate_mb",
        "gradient_checkpointing", "compile", "flops_per_clip", "achieved_tflops", "peak_tflops",
        "peak_tflops_source", "mfu", "reference_s", "reference_ratio"]
    assert result["dtype"] == "float32" and result["train_step_s"] > 0 and result["inference_s"] > 0
    assert result["activation_estimate_mb"] > 0 and result["gradient_checkpointing"] is False
    # Counted FLOPs: at least the three image passes of a plain tower over 4 frames (a lower bound by hand:
    # the matrix products of its layers), and a training step (its backward pass too) well above a forward pass.
    vision = tiny("B16").clip.config.vision_config
    tokens, width, mlp = (vision.image_size // vision.patch_size) ** 2 + 1, vision.hidden_size, vision.intermediate_size
    per_image = vision.num_hidden_layers * 2 * tokens * (4 * width * width + 2 * width * mlp)
    flops = result["flops_per_clip"]
    assert 3 * 4 * per_image < flops["inference"] and 1.5 * flops["inference"] < flops["train"]
    assert 0 < result["mfu"]["train"] and result["peak_tflops"] > 0
    assert result["reference_ratio"]["train"] > result["reference_ratio"]["inference"] > 0
