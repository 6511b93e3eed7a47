"""One `--device` rule for every sub-command (finecliper.devices): its values, its errors, its help."""

from __future__ import annotations

import pytest
import torch

from finecliper.cli import main
from finecliper.devices import DEVICE_HELP, resolve_device
from finecliper.errors import UserError

GPU = torch.cuda.is_available()


@pytest.mark.parametrize("value, expected", [
    (None, "auto"), ("auto", "auto"), ("AUTO", "auto"), ("cpu", "cpu"), (" cpu ", "cpu"),
    ("cuda", "cuda"), ("cuda:0", "cuda:0"),
])
def test_good_device_values(value, expected):
    if expected == "auto":
        expected = "cuda" if GPU else "cpu"
    if expected.startswith("cuda") and not GPU:
        with pytest.raises(UserError, match=r"^--device .* was asked for, but PyTorch sees no CUDA GPU on this machine$"):
            resolve_device(value)
    else:
        assert resolve_device(value) == torch.device(expected)


@pytest.mark.parametrize("value", ["gpu0", "gpu", "", "cuda:", "cuda:x", "cuda:-1", "cuda0", "cpu:0", "mps", "tpu"])
def test_bad_device_values_are_one_sentence(value):
    with pytest.raises(UserError) as exc:
        resolve_device(value)
    assert str(exc.value) == f"unknown --device {value!r} (use auto, cpu, cuda or cuda:N)"


def test_a_gpu_this_machine_lacks_is_one_sentence():
    with pytest.raises(UserError, match="sees only|sees no CUDA GPU") as exc:
        resolve_device("cuda:99")
    assert "\n" not in str(exc.value)


def _help(command: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


@pytest.mark.parametrize("command", [["train"], ["eval"], ["zeroshot"], ["predict"], ["explain"], ["serve"], ["cues"],
                                     ["describe"], ["bench", "model"], ["bench", "describe"]])
def test_every_device_option_takes_the_same_values_with_the_same_help(command, capsys):
    text = _help(command, capsys)
    assert "--device DEVICE " + " ".join(DEVICE_HELP.split()) in text  # no choices of its own, one help
