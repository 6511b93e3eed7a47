"""The segformer parsing backend: class mapping by name, sides by geometry, loading from a local folder.

The model is a tiny random-weight SegFormer saved to a temporary folder: its output is noise, so the
tests check the mapping and the plumbing, not accuracy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from finecliper.cues.extract import CueSettings, Extractor
from finecliper.cues.parsing_sides import BROW, EYE, assign_sides
from finecliper.cues.segformer_backend import SegformerParser, class_table
from finecliper.errors import UserError
from finecliper.face_layout import LEFT_EYE, PARSING_INDEX, RIGHT_EYE
from media import astronaut

CELEBAMASK_HQ = ["background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                 "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"]


def _tiny_segformer(folder, labels=CELEBAMASK_HQ, input_size=64, always: str | None = None):
    """A random SegFormer saved to `folder`; with `always`, its head predicts that class everywhere."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    config = SegformerConfig(
        depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 16, 16], num_attention_heads=[1, 1, 1, 1],
        decoder_hidden_size=16, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
    )
    model = SegformerForSemanticSegmentation(config)
    if always is not None:
        with torch.no_grad():
            model.decode_head.classifier.weight.zero_()
            model.decode_head.classifier.bias.fill_(-10.0)
            model.decode_head.classifier.bias[labels.index(always)] = 10.0
    model.save_pretrained(folder)
    if input_size:
        (folder / "preprocessor_config.json").write_text(json.dumps(
            {"size": {"height": input_size, "width": input_size}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


def test_celebamask_hq_classes_map_by_name():
    table = class_table(dict(enumerate(CELEBAMASK_HQ)))
    got = dict(zip(CELEBAMASK_HQ, table.tolist(), strict=True))
    idx = PARSING_INDEX
    assert got["skin"] == idx["skin"] and got["nose"] == idx["nose"] and got["hair"] == idx["hair"]
    assert got["u_lip"] == idx["upper_lip"] and got["l_lip"] == idx["lower_lip"] and got["mouth"] == idx["inner_mouth"]
    assert got["l_eye"] == got["r_eye"] == EYE and got["l_brow"] == got["r_brow"] == BROW  # sides by geometry
    for name in ("background", "eye_g", "l_ear", "hat", "neck", "cloth", "neck_l", "ear_r"):
        assert got[name] == idx["background"], name
    # Order does not matter, names do: LaPa's 11 classes in another order, spelled differently.
    lapa = ["Background", "Skin", "Left Eyebrow", "Right-Eyebrow", "left_eye", "right_eye", "Nose", "Upper Lip",
            "Inner Mouth", "Lower Lip", "Hair"][::-1]
    table = class_table({str(i): n for i, n in enumerate(lapa)})
    assert table[lapa.index("Inner Mouth")] == idx["inner_mouth"] and table[lapa.index("Left Eyebrow")] == BROW


def test_labels_that_are_not_face_parsing_are_refused():
    with pytest.raises(UserError, match="not face-parsing classes"):
        class_table({0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(UserError, match="not face-parsing classes"):  # ADE20k-like scene labels
        class_table(dict(enumerate(["wall", "building", "sky", "floor", "tree", "person"])))


def test_sides_follow_the_face_not_the_image():
    maps = np.full((2, 10, 20), EYE, dtype=np.uint8)
    maps[:, :2] = BROW
    lm = np.zeros((2, 68, 2), np.float32)
    lm[0, RIGHT_EYE] = (5, 5)  # upright face: subject's right eye on the image's left
    lm[0, LEFT_EYE] = (15, 5)
    lm[1, RIGHT_EYE] = (15, 5)  # upside down: the other way round
    lm[1, LEFT_EYE] = (5, 5)
    out = assign_sides(maps, lm)
    idx = PARSING_INDEX
    assert (out[0, 5:, :10] == idx["right_eye"]).all() and (out[0, 5:, 10:] == idx["left_eye"]).all()
    assert (out[0, :2, :10] == idx["right_brow"]).all() and (out[0, :2, 10:] == idx["left_brow"]).all()
    assert (out[1, 5:, :10] == idx["left_eye"]).all() and (out[1, :2, 10:] == idx["right_brow"]).all()
    half = assign_sides(maps[:, :5, :10], lm, scale=0.5)  # maps stored at half the frame's size
    assert (half[0, 3:, :5] == idx["right_eye"]).all() and (half[0, 3:, 5:] == idx["left_eye"]).all()


def test_segformer_backend_runs_on_a_clip(tmp_path):
    from media import write_frames

    folder = _tiny_segformer(tmp_path / "model")
    parser = SegformerParser(folder)
    assert parser.size == (64, 64) and parser.info["num_labels"] == 19
    maps = parser([np.zeros((30, 40, 3), np.uint8), np.zeros((50, 50, 3), np.uint8)], [(30, 40), (25, 25)])
    assert [m.shape for m in maps] == [(30, 40), (25, 25)] and all(m.dtype == np.uint8 for m in maps)
    allowed = set(class_table(parser.info["labels"]).tolist())
    assert set(np.unique(np.concatenate([m.ravel() for m in maps])).tolist()) <= allowed

    import cv2

    write_frames(tmp_path / "clip", np.stack([cv2.resize(astronaut()[40:280, 110:350], (224, 224))] * 3))
    # A model that calls every pixel "l_eye": the sides must still come from the face, not the name.
    always_eye = _tiny_segformer(tmp_path / "eye", always="l_eye")
    extractor = Extractor(CueSettings(parsing_backend="segformer", parsing_weights=str(always_eye)))
    cues = extractor.extract(tmp_path / "clip")
    assert cues.parsing.shape == (3, 224, 224) and int(cues.parsing.max()) < 11 and cues.valid.all()
    prov = extractor.provenance()
    assert prov["settings"]["parsing_backend"] == "segformer" and prov["parsing_model"]["labels"]["4"] == "l_eye"
    # Split at the face's mid-line (the perpendicular bisector of the eye centres): the subject's left
    # eye is the image's right side in this upright photo.
    assert set(np.unique(cues.parsing).tolist()) == {PARSING_INDEX["left_eye"], PARSING_INDEX["right_eye"]}
    right, left = cues.landmarks[0, RIGHT_EYE].mean(0), cues.landmarks[0, LEFT_EYE].mean(0)
    ys, xs = np.mgrid[0:224, 0:224]
    along = (np.stack([xs, ys], -1) + 0.5 - (left + right) / 2) @ (left - right)  # (224, 224)
    assert np.array_equal(cues.parsing[0] == PARSING_INDEX["left_eye"], along > 0)
    assert (cues.parsing[0, :, :80] == PARSING_INDEX["right_eye"]).all()


def test_parsing_folders_that_are_not_models_are_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        SegformerParser(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no config.json"):
        SegformerParser(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not a transformers model config"):
        SegformerParser(tmp_path / "junk")
    from transformers import CLIPConfig

    CLIPConfig().save_pretrained(tmp_path / "clip")  # a real config, but no segmentation labels
    with pytest.raises(UserError, match="not face-parsing classes"):
        SegformerParser(tmp_path / "clip")
    folder = _tiny_segformer(tmp_path / "noweights")
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(UserError, match="no usable weights"):
        SegformerParser(folder)
    from transformers import BertConfig

    # A real model type with face labels, but no segmentation head in transformers.
    BertConfig(num_labels=len(CELEBAMASK_HQ), id2label=dict(enumerate(CELEBAMASK_HQ))).save_pretrained(tmp_path / "bert")
    with pytest.raises(UserError, match="holds a 'bert' model, not a semantic-segmentation model"):
        SegformerParser(tmp_path / "bert")
