"""The command line: `params` output contract and one-sentence errors with non-zero exits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from finecliper.cli import SUBCOMMANDS, main


def test_params_json_contract(capsys):
    assert main(["params", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["presets"]
    assert list(data["presets"]) == ["B16", "B16-PL", "B16-FT", "B16-Full", "B32-Full", "L14-Full"]
    for entry in data["presets"].values():
        assert set(entry) == {"tunable", "total", "paper_tunable_m"}
        assert isinstance(entry["tunable"], int) and isinstance(entry["total"], int)
        assert entry["tunable"] < entry["total"]
    assert data["presets"]["B16-Full"]["paper_tunable_m"] == 20
    # L14 is wider and deeper than B16: its true count is larger than the paper's printed 20 M.
    assert data["presets"]["L14-Full"]["tunable"] > 2 * data["presets"]["B16-Full"]["tunable"]


def test_params_table_and_overrides(capsys):
    assert main(["params", "--preset", "B16", "--set", "adapter_ratio.video=0"]) == 0
    out = capsys.readouterr().out
    assert "B16" in out and "paper (M)" in out and "B16-PL" not in out
    # Without video adapters only the text adapters and the fusion transformer remain: ~6.3 M.
    assert "6.34" in out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_bad_inputs_exit_non_zero_with_one_sentence(capsys, tmp_path):
    assert main(["params", "--set", "nope=1"]) == 2
    assert "unknown key 'nope'" in _error_line(capsys)
    assert main(["bench", "model", "--preset", "B16", "--set", "backbone=tiny", "--set", f"weights={tmp_path}/x"]) == 2
    assert _error_line(capsys).endswith(f"weights path {tmp_path}/x does not exist")
    empty = tmp_path / "no-vocab"
    empty.mkdir()
    assert main(["bench", "model", "--preset", "B16", "--set", "backbone=tiny", "--set", f"weights={empty}"]) == 2
    assert "holds no CLIP weights" in _error_line(capsys)
    assert main(["bench", "model", "--preset", "B16", "--set", "backbone=tiny", "--image-size", "48"]) == 2
    assert "frames must have shape (B, 16, 3, 32, 32), got (2, 16, 3, 48, 48)" in _error_line(capsys)


def test_bench_model_prints_figures(capsys):
    assert main(["bench", "model", "--preset", "B16-Full", "--set", "backbone=tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["train_step_s"] > 0 and data["peak_memory_mb"] > 0 and data["batch_size"] == 2


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "finecliper", "params", "--preset", "B16"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "13.44" in result.stdout


def test_cues_device_cuda_without_a_gpu_is_one_sentence(capsys, tmp_path):
    import torch

    from finecliper.data.manifest import ClipRecord, write_manifest

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ClipRecord("c0", "c0", "happiness", 16, "train", 1, "dfew", "frames", str(tmp_path))])
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"")  # its content is read after the device is resolved
    for backend in (["--parsing-backend", "mesh"], ["--parsing-backend", "segformer", "--parsing-weights", str(tmp_path)],
                    ["--backend", "facexformer", "--weights", str(weights)]):
        code = main(["cues", "--manifest", str(manifest), "--out", str(tmp_path / "s"), "--device", "cuda",
                     *backend, "--no-progress"])
        assert code == 2, backend
        assert _error_line(capsys).endswith(
            "--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine"), backend
    assert main(["bench", "model", "--preset", "B16", "--set", "backbone=tiny", "--device", "cuda"]) == 2
    assert "PyTorch sees no CUDA GPU" in _error_line(capsys)


def test_unknown_device_is_one_sentence(capsys):
    assert main(["bench", "model", "--preset", "B16", "--set", "backbone=tiny", "--device", "gpu0"]) == 2
    assert "unknown --device 'gpu0'" in _error_line(capsys)


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_registering_a_subcommand_does_not_import_torch(name):
    """`finecliper --help` and argument errors must not wait for torch (cli/__init__.py)."""
    code = (
        "import argparse, importlib, sys\n"
        f"importlib.import_module('finecliper.cli.{name}').register(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", name
