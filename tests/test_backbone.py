"""Backbone loading: Hugging Face folders, OpenAI layout, tokenizers, and the errors users meet."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest
import torch

from finecliper.config.presets import model_config
from finecliper.datasets import class_names
from finecliper.errors import UserError
from finecliper.model import build_model
from finecliper.model.adapter import ParallelAdapterSeam, SerialAdapterSeam
from finecliper.model.architectures import ARCHITECTURES, architecture_dict, discover
from finecliper.model.backbone import build_clip, load_backbone
from finecliper.model.tokenizer import builtin_tokenizer, load_tokenizer

ARCH_FOLDER = resources.files("finecliper").joinpath("arch")


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A tiny CLIP saved as a user's Hugging Face folder: config, safetensors weights, tokenizer files."""
    folder = tmp_path_factory.mktemp("tiny-clip-hf")
    torch.manual_seed(0)
    tok = builtin_tokenizer()
    clip = build_clip("tiny", tok.eos_token_id)
    clip.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def openai_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of the package's mapping, written independently from OpenAI's `clip/model.py` names."""
    out = {}
    towers = {"vision_model": "visual.transformer.resblocks", "text_model": "transformer.resblocks"}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        parts = key.split(".")
        if parts[0] in towers and parts[1] == "encoder":
            i, rest = parts[3], ".".join(parts[4:])
            base = f"{towers[parts[0]]}.{i}."
            if rest.startswith("self_attn.q_proj"):
                kind = rest.rsplit(".", 1)[1]
                qkv = [state[f"{parts[0]}.encoder.layers.{i}.self_attn.{n}_proj.{kind}"] for n in "qkv"]
                out[base + f"attn.in_proj_{kind}"] = torch.cat(qkv, dim=0)
            elif rest.startswith(("self_attn.k_proj", "self_attn.v_proj")):
                continue
            else:
                rest = (rest.replace("self_attn.out_proj", "attn.out_proj").replace("layer_norm1", "ln_1")
                        .replace("layer_norm2", "ln_2").replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj"))
                out[base + rest] = value
            continue
        simple = {
            "vision_model.embeddings.class_embedding": "visual.class_embedding",
            "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
            "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
            "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",
            "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
            "vision_model.post_layernorm.weight": "visual.ln_post.weight",
            "vision_model.post_layernorm.bias": "visual.ln_post.bias",
            "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
            "text_model.embeddings.position_embedding.weight": "positional_embedding",
            "text_model.final_layer_norm.weight": "ln_final.weight",
            "text_model.final_layer_norm.bias": "ln_final.bias",
            "logit_scale": "logit_scale",
        }
        if key in simple:
            out[simple[key]] = value
        elif key == "visual_projection.weight":
            out["visual.proj"] = value.t()
        elif key == "text_projection.weight":
            out["text_projection"] = value.t()
        else:
            raise AssertionError(f"test mapping misses {key}")
    out.update(input_resolution=torch.tensor(32), context_length=torch.tensor(77), vocab_size=torch.tensor(514))
    return out


def _features(clip, pixels, ids):
    with torch.no_grad():
        img = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
        txt = clip.text_projection(clip.text_model(input_ids=ids).pooler_output)
    return img, txt


def test_hf_folder_loads_the_saved_weights(hf_folder):
    from transformers import CLIPModel

    backbone = load_backbone("tiny", str(hf_folder))
    assert backbone.source == str(hf_folder)
    reference = CLIPModel.from_pretrained(hf_folder, local_files_only=True)
    for key, value in reference.state_dict().items():
        assert torch.equal(backbone.clip.state_dict()[key], value), key
    assert len(backbone.tokenizer) == 514


def test_openai_layout_gives_the_same_outputs(hf_folder, tmp_path):
    hf = load_backbone("tiny", str(hf_folder))
    pt = tmp_path / "ViT-tiny.pt"
    torch.save(openai_layout(hf.clip.state_dict()), pt)
    oa = load_backbone("tiny", str(pt), tokenizer=str(hf_folder))
    pixels = torch.randn(3, 3, 32, 32)
    ids = builtin_tokenizer()(["a face", "the brows rise"], padding=True, return_tensors="pt")["input_ids"]
    for a, b in zip(_features(hf.clip, pixels, ids), _features(oa.clip, pixels, ids), strict=True):
        assert torch.equal(a, b)


def test_openai_layout_with_a_leftover_key_is_refused(hf_folder, tmp_path):
    state = openai_layout(load_backbone("tiny", str(hf_folder)).clip.state_dict())
    state["visual.extra_head.weight"] = torch.zeros(2)
    del state["ln_final.bias"]
    pt = tmp_path / "bad.pt"
    torch.save(state, pt)
    with pytest.raises(UserError, match="1 missing .*final_layer_norm.bias.*1 unexpected .*extra_head"):
        load_backbone("tiny", str(pt), tokenizer=str(hf_folder))


def test_missing_weights_path_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_backbone("tiny", str(tmp_path / "nowhere"))


def test_folder_without_vocabulary_is_refused(hf_folder, tmp_path):
    folder = tmp_path / "no-vocab"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((hf_folder / name).read_bytes())
    with pytest.raises(UserError, match="no tokenizer vocabulary"):
        load_backbone("tiny", str(folder))


def test_weights_of_another_architecture_are_refused(hf_folder):
    with pytest.raises(UserError, match="different CLIP: vision_config.hidden_size is 32, but backbone ViT-B/32 has 768"):
        load_backbone("ViT-B/32", str(hf_folder), tokenizer=str(hf_folder))


def test_wrong_shapes_without_a_config_are_refused(hf_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(hf_folder / "model.safetensors")
    state["visual_projection.weight"] = torch.zeros(16, 32)
    path = tmp_path / "weights.safetensors"
    save_file(state, path)
    with pytest.raises(UserError, match="wrong shape .*visual_projection.weight: \\(16, 32\\), expected \\(32, 32\\)"):
        load_backbone("tiny", str(path), tokenizer=str(hf_folder))


def test_tokenizer_size_must_match_the_text_tower(hf_folder):
    with pytest.raises(UserError, match="has 514 tokens but the text tower expects 49408"):
        load_tokenizer(hf_folder, 49408)


def test_openai_bpe_file_builds_clip_vocabulary(tmp_path):
    merges = ["#version header", "t h", "th e</w>", "e x"]
    with gzip.open(tmp_path / "bpe_simple_vocab_16e6.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(merges) + "\n")
    tok = load_tokenizer(tmp_path, 256 * 2 + 3 + 2)
    assert tok.convert_ids_to_tokens(tok("the")["input_ids"]) == ["<|startoftext|>", "the</w>", "<|endoftext|>"]
    assert tok.eos_token_id == 256 * 2 + 3 + 1


def test_builtin_tokenizer_is_byte_level():
    tok = builtin_tokenizer()
    assert len(tok) == architecture_dict("tiny")["text_config"]["vocab_size"] == 514
    ids = tok("Ünïcode smile!")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id

    # Every UTF-8 byte is a symbol of the vocabulary: non-ASCII text comes back exactly, one token per byte.
    text = "déjà vu — 微笑 😊"
    ids = tok(text)["input_ids"]
    assert len(ids) == 2 + len(text.replace(" ", "").encode("utf-8"))
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_unknown_backbone_is_refused():
    with pytest.raises(UserError, match="unknown backbone 'ViT-H/14'"):
        architecture_dict("ViT-H/14")


def test_every_json_file_in_arch_is_a_registered_architecture():
    files = sorted(p.name for p in ARCH_FOLDER.iterdir() if p.name.endswith(".json"))
    assert sorted(arch.file for _, arch in ARCHITECTURES.items()) == files
    assert {"ViT-B/16", "ViT-B/32", "ViT-L/14", "tiny", "small"} <= set(ARCHITECTURES.names())
    assert "name" not in architecture_dict("ViT-B/16") and "_comment" not in architecture_dict("ViT-B/16")


def test_a_new_json_file_is_a_new_architecture(tmp_path):
    data = json.loads(ARCH_FOLDER.joinpath("tiny.json").read_text())
    data.update(name="tiny-wide", vision_config={**data["vision_config"], "hidden_size": 64})
    (tmp_path / "tiny-wide.json").write_text(json.dumps(data))
    (tmp_path / "README.txt").write_text("not an architecture")
    registry = discover(tmp_path)
    assert registry.names() == ["tiny-wide"]
    assert registry.get("tiny-wide").config["vision_config"]["hidden_size"] == 64
    (tmp_path / "nameless.json").write_text(json.dumps({"projection_dim": 32}))
    with pytest.raises(ValueError, match='nameless.json has no "name"'):
        discover(tmp_path)


def test_architecture_dict_is_a_copy():
    architecture_dict("tiny")["vision_config"]["hidden_size"] = 1
    assert architecture_dict("tiny")["vision_config"]["hidden_size"] == 32


@pytest.mark.parametrize("name", ARCHITECTURES.names())
def test_every_architecture_builds_on_the_meta_device_with_adapters_in_every_layer(name):
    arch = architecture_dict(name)
    model = build_model(model_config("B16-Full", [f"backbone={name}"]), class_names("dfew"), meta=True)
    config = model.clip.config
    for tower in ("vision_config", "text_config"):
        for key, value in arch[tower].items():
            if key != "eos_token_id":  # set from the tokenizer, whose end-of-text id the tower pools at
                assert getattr(getattr(config, tower), key) == value, (tower, key)
    assert config.projection_dim == arch["projection_dim"] and model.image_size == arch["vision_config"]["image_size"]
    for tower in (model.clip.vision_model, model.clip.text_model):
        assert len(tower.encoder.layers) > 0
        for layer in tower.encoder.layers:
            assert isinstance(layer.self_attn, SerialAdapterSeam) and isinstance(layer.mlp, ParallelAdapterSeam)
    tunable, total = model.count_parameters()
    assert 0 < tunable < total
