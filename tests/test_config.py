"""Config: presets, strict overrides, and the paper's parameter budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from finecliper.config.experiment import ExperimentConfig
from finecliper.config.model import ModelConfig
from finecliper.config.presets import PAPER_TUNABLE_M, model_config
from finecliper.config.strict import apply_overrides, from_dict
from finecliper.errors import UserError
from finecliper.model.param_counts import count_presets


def test_overrides_parse_yaml_values_and_check_types():
    cfg = apply_overrides(ModelConfig(), ["cues=[parsing]", "adapter_ratio.video=0.3", "video_weight=null",
                                          "descriptions=true", "num_frames=8", "negation=less"])
    assert cfg.cues == ["parsing"] and cfg.adapter_ratio["video"] == 0.3 and cfg.adapter_ratio["pos"] == 0.125
    assert cfg.descriptions is True and cfg.num_frames == 8 and cfg.negation == "less"
    assert apply_overrides(cfg, ["video_weight=1"]).video_weight == 1.0


@pytest.mark.parametrize(
    "override, message",
    [
        # Refused while parsing the override: unknown keys, wrong types, bad syntax.
        pytest.param("nope=1", "unknown key 'nope'", id="unknown-key"),
        pytest.param("adapter_ratio.vidoe=0.3", "unknown key 'adapter_ratio.vidoe'.*adapter_ratio has keys",
                     id="unknown-nested-key"),
        pytest.param("num_frames=many", "model.num_frames must be int, got 'many'", id="not-an-int"),
        pytest.param("descriptions=3", "must be bool", id="not-a-bool"),
        pytest.param("cues=parsing", "must be a list", id="not-a-list"),
        pytest.param("num_frames", "not of the form key=value", id="no-equals"),
        # Well-typed but invalid values, refused by ModelConfig.validate.
        pytest.param("cues=[hair]", "unknown cue branch 'hair'", id="unknown-cue"),
        pytest.param("video_weight=1.5", "video_weight must be in \\[0, 1\\]", id="video-weight-range"),
        pytest.param("adapter_ratio.video=-1", "adapter_ratio.video must be at least 0", id="negative-ratio"),
        pytest.param("positive_template=A face", "must both contain", id="template-without-label"),
        pytest.param("fusion_layers=0", "fusion_layers must be at least 1, got 0", id="no-fusion-layers"),
        pytest.param("fusion_heads=0", "fusion_heads must be at least 1, got 0", id="no-fusion-heads"),
        pytest.param("pn_loss=both", "pn_loss must be one of separate, joint, got 'both'", id="unknown-pn-loss"),
        pytest.param("zero_shot_score=neg", "zero_shot_score must be one of pos_minus_neg, pos, got 'neg'",
                     id="unknown-zero-shot-score"),
        pytest.param("gradient_checkpointing=sometimes", "gradient_checkpointing must be true, false or auto",
                     id="checkpointing-word"),
    ],
)
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(UserError, match=message):
        model_config("B16", [override])


@pytest.mark.parametrize(
    "override, message",
    [
        pytest.param("data.prefetch_factor=0", "data.prefetch_factor must be at least 1, got 0", id="no-prefetch"),
        pytest.param("data.prefetch_factor=two", "must be int", id="prefetch-not-an-int"),
        pytest.param("train.compile=yes", "must be bool", id="compile-not-a-bool"),
        pytest.param("data.workers=-1", "data.workers must be at least 0", id="negative-workers"),
    ],
)
def test_bad_experiment_overrides_are_refused(override, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(ExperimentConfig(), [override]).validate()


def test_partial_mapping_from_yaml_updates_the_default():
    cfg = from_dict(ModelConfig, {"adapter_ratio": {"video": 0.5}})
    assert cfg.adapter_ratio["video"] == 0.5 and cfg.adapter_ratio["desc"] == 0.0625
    with pytest.raises(UserError, match="unknown branch 'face'"):
        from_dict(ModelConfig, {"adapter_ratio": {"face": 0.5}}).validate()


def test_unknown_preset():
    with pytest.raises(UserError, match="unknown preset 'B99'"):
        model_config("B99")


def test_vit_b16_presets_land_on_the_papers_tunable_counts():
    counts = count_presets(["B16", "B16-PL", "B16-FT", "B16-Full"], [])
    for name, c in counts.items():
        assert round(c["tunable"] / 1e6) == PAPER_TUNABLE_M[name], (name, c["tunable"])
        assert c["total"] > 150_000_000  # the frozen ViT-B/16 CLIP is counted in the total


def test_params_prints_the_table_of_the_readme(capsys):
    """`finecliper params` prints exactly the table the README shows (every registered preset, real sizes)."""
    from finecliper.cli import main

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = re.search(r"`finecliper params` builds .*?\n```\n(.*?)```", readme, re.S).group(1)
    assert main(["params"]) == 0
    assert capsys.readouterr().out == table


@pytest.mark.parametrize("text, value", [("no", "no"), ("yes", "yes"), ("off", "off"), ("less", "less")])
def test_yaml_1_1_booleans_are_words_in_configs(text, value):
    # The paper's negative word is "no"; PyYAML alone reads it as False.
    assert apply_overrides(ModelConfig(), [f"negation={text}"]).negation == value
    assert apply_overrides(ModelConfig(), ["use_negative=false"]).use_negative is False


ZEROSHOT_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "zeroshot").glob("*.yaml"))


@pytest.mark.parametrize("path", ZEROSHOT_CONFIGS, ids=lambda p: p.stem)
def test_every_zeroshot_config_names_its_class_sets(path):
    from finecliper.config.loading import load_experiment
    from finecliper.datasets import class_names

    cfg = load_experiment(path)
    assert cfg.data.classes == class_names(cfg.data.dataset)  # scored: the dataset's, in its order
    assert cfg.data.train_classes and set(cfg.data.train_classes) <= set(cfg.data.classes)


def test_mafw_captions_zeroshot_trains_on_ten_classes_and_scores_eleven():
    """MAFW's captioned clips hold no neutral one (the official fold-1 file, when present, agrees)."""
    from finecliper.config.loading import load_experiment
    from shared_data import SPLITS

    cfg = load_experiment(Path(__file__).resolve().parents[1] / "configs" / "zeroshot" / "mafw_captions.yaml")
    assert len(cfg.data.classes) == 11 and len(cfg.data.train_classes) == 10
    assert set(cfg.data.classes) - set(cfg.data.train_classes) == {"neutral"}
    captioned = SPLITS / "MAFW" / "Train & Test Set" / "single" / "with_caption" / "set_1" / "train.txt"
    if captioned.is_file():
        labels = {line.split("\t")[1] for line in captioned.read_bytes().decode("gbk").splitlines() if "\t" in line}
        assert labels == set(cfg.data.train_classes)
