"""The environment is the committed lock (scripts/check_lock.py), and the check itself catches drift."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"


def load_check():
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_check()


@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="only the project's .venv (made by scripts/setup.sh) is bound to the lock")
def test_environment_is_the_lock():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_lock.py")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lock_holds_only_exact_pins_and_the_installers():
    pins = check.read_lock(LOCK)
    assert {"torch", "uv", "pip", "setuptools", "transformers", "mediapipe"} <= set(pins)
    assert pins["torch"].startswith("2.13.0")
    # Two distributions of `cv2` would overwrite each other's files (requirements/overrides.in).
    assert "opencv-contrib-python" not in pins and "opencv-python-headless" in pins


def test_lock_satisfies_pyproject():
    requirements = check.pyproject_requirements(ROOT / "pyproject.toml")
    names = {check.requirement_name(r) for r in requirements}
    assert {"torch", "transformers", "mediapipe", "tensorboard", "pytest"} <= names  # extras followed
    assert check.pyproject_problems(check.read_lock(LOCK), requirements) == []


def test_pyproject_check_finds_a_missing_or_out_of_range_pin():
    lock = {"numpy": "1.26.4", "torch": "2.13.0+cpu"}
    problems = check.pyproject_problems(lock, ["numpy>=2", "torch>=2.3", "pyyaml"])
    assert len(problems) == 2
    assert "numpy>=2" in problems[0] and "1.26.4" in problems[0]
    assert "pyyaml" in problems[1]


def test_environment_check_finds_each_kind_of_drift():
    lock = {"numpy": "1.26.4", "torch": "2.13.0+cpu", "pyyaml": "6.0.4"}
    installed = {"numpy": "2.0.0", "torch": "2.13.0+cpu", "finecliper": "0.1.0", "requests": "2.32.0"}
    problems = check.environment_problems(lock, installed)
    assert problems == [
        "numpy is installed at 2.0.0, the lock pins 1.26.4",
        "pyyaml==6.0.4 is in the lock but not installed",
        "requests==2.32.0 is installed but not in the lock",
    ]


def test_a_users_torch_build_and_what_only_it_needs_are_allowed():
    lock = {"torch": "2.13.0+cpu", "sympy": "1.14.0"}
    installed = {"torch": "2.13.0+cu128", "sympy": "1.14.0", "nvidia-cublas": "13.1.1.3", "rich": "15.0.0"}
    assert check.environment_problems(lock, installed) == [
        "torch is installed at 2.13.0+cu128, the lock pins 2.13.0+cpu",
        "nvidia-cublas==13.1.1.3 is installed but not in the lock",
        "rich==15.0.0 is installed but not in the lock",
    ]
    assert check.environment_problems(lock, installed, torch_only={"nvidia-cublas"}) == [
        "rich==15.0.0 is installed but not in the lock",
    ]


def test_names_and_versions_compare_as_packaging_does(tmp_path):
    lock_file = tmp_path / "lock.txt"
    lock_file.write_text("# header\nTyping_Extensions==4.16.0\n    # via torch\nfoo==1.0 ; python_version >= '3'\n")
    lock = check.read_lock(lock_file)
    assert lock == {"typing-extensions": "4.16.0", "foo": "1.0"}
    assert check.environment_problems(lock, {"typing-extensions": "4.16.0", "foo": "1.0.0"}) == []
    lock_file.write_text("foo>=1.0\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        check.read_lock(lock_file)


@pytest.mark.parametrize("env, message", [
    ({"FINECLIPER_INSTALLER": "conda"}, "setup: FINECLIPER_INSTALLER must be 'uv' or 'pip', not 'conda'."),
    ({"PYTHON": "{old_python}"}, "setup: requirements/lock.txt is resolved for CPython 3.11 and '{old_python}' is "
                                 "another version; set PYTHON=/path/to/python3.11 (or pip install -e . into an "
                                 "environment of your own)."),
])
def test_setup_refuses_bad_settings_in_one_sentence_before_any_work(tmp_path, env, message):
    old_python = tmp_path / "python3.9"  # answers every version check as another Python would
    old_python.write_text("#!/bin/sh\nexit 1\n")
    old_python.chmod(0o755)
    env = {k: v.format(old_python=old_python) for k, v in env.items()}
    before = sorted(p.name for p in ROOT.iterdir())
    result = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env})
    assert result.returncode == 2
    assert result.stderr.strip() == message.format(old_python=old_python)
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nothing made, .venv untouched
