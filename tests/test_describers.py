"""Every registered describer (finecliper.describe.backends.DESCRIBERS): built from its own options as
`finecliper describe` builds it, run on generated clips, benchmarked; one that needs model weights says
so in one sentence. New entries are tested here without new test code."""

from __future__ import annotations

import json

import pytest

from builders import described_clips
from finecliper.bench.describe import STAND_INS
from finecliper.cli import main
from finecliper.data.descriptions import read_records
from finecliper.describe.backends import DESCRIBERS, Backend, build_describer
from finecliper.errors import UserError

NAMES = DESCRIBERS.names()


def _required(name: str) -> list:
    return [option for option in DESCRIBERS.get(name).options if option.required]


def _needs_a_model(name: str) -> bool:
    """Whether it needs something the tests cannot make for any describer (only a cue store they can)."""
    return any(option.flag != "--cues" for option in _required(name))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Three clips (frames, a landmark track in a cue store, a caption) and their manifest."""
    return described_clips(tmp_path_factory.mktemp("clips"), 3)


@pytest.mark.parametrize("name", NAMES)
def test_the_registered_name_is_the_one_recorded(name):
    assert DESCRIBERS.get(name).name == name


@pytest.mark.parametrize("command", [["describe"], ["bench", "describe"]])
@pytest.mark.parametrize("name", NAMES)
def test_the_command_line_offers_its_options(name, command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert name in text
    for option in DESCRIBERS.get(name).options:
        assert f" {option.flag} " in text, option.flag


@pytest.mark.parametrize("name", NAMES)
def test_without_its_required_options_it_says_what_to_pass(name, generated):
    records, _, _ = generated
    required = _required(name)
    if not required:
        assert isinstance(build_describer(name, {}, records), Backend)
        return
    with pytest.raises(UserError) as exc:
        build_describer(name, {}, records)
    option = required[0]
    assert str(exc.value) == f"the {name} backend needs {option.required}: pass {option.flag} {option.metavar}"


@pytest.mark.parametrize("name", NAMES)
def test_it_describes_generated_clips(name, generated, tmp_path, capsys):
    if _needs_a_model(name):
        pytest.skip(f"{name} needs model weights (its error without them is tested above; a tiny random "
                    "Video-LLaVA runs in test_describe_mllm.py)")
    records, store, manifest = generated
    out = tmp_path / "d.jsonl"
    assert main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", name,
                 "--cues", str(store), "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 3 and summary["failed"] == 0 and summary["failures"] == []
    described = read_records(out)
    assert [r["id"] for r in described] == [r.id for r in records]
    assert all(r["backend"] == name and r["status"] == "ok" and r["refined"] for r in described)


@pytest.mark.parametrize("name", NAMES)
def test_it_can_be_benchmarked(name, capsys):
    if _needs_a_model(name) and name not in STAND_INS:  # a stand-in builds a random model of its own
        pytest.skip(f"{name} needs model weights")
    tiny = ["--size", "tiny", "--max-new-tokens", "2", "--repeat", "1", "--device", "cpu"]  # for stand-ins
    assert main(["bench", "describe", "--backend", name, "--clips", "5", "--frames", "8", "--json", *tiny]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == name
    speeds = [run["clips_per_s"] for run in result["runs"]] if "runs" in result else [result["clips_per_s"]]
    assert all(speed > 0 for speed in speeds)


def test_an_unknown_describer_lists_the_registry(generated):
    with pytest.raises(UserError) as exc:
        build_describer("gpt", {}, generated[0])
    assert str(exc.value) == f"unknown backend 'gpt'; known: {', '.join(NAMES)}"

