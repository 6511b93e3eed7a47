"""Checks that the running Python environment is exactly requirements/lock.txt, and that the lock still
satisfies pyproject.toml. scripts/setup.sh runs it after every install and tests/test_lock.py runs it in the
suite, so a package that drifts (missing from the lock, at another version, or installed beside it) cannot
land silently.

One exception, for users who bring their own torch build (FINECLIPER_TORCH, recorded by setup.sh in
.venv/finecliper-torch.txt): torch may then differ from the lock, and packages that only torch requires
(CUDA libraries, triton) may be installed without being locked.

Standard library only: it must run before anything else works.

    python scripts/check_lock.py [--lock requirements/lock.txt] [--pyproject pyproject.toml]
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "finecliper"  # installed editable from the working tree, not from the lock
USER_TORCH_MARKER = "finecliper-torch.txt"
LOCKED_EXTRAS = ("all", "dev")  # the extras scripts/setup.sh installs


def canonical(name: str) -> str:
    """PEP 503 name: 'Typing_Extensions' and 'typing-extensions' are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    return canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line).group(1))


def read_lock(path: Path) -> dict[str, str]:
    """name -> pinned version from a `uv pip compile` output (comments and markers ignored)."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"{path}: '{raw.strip()}' is not an exact pin (name==version)")
        pins[canonical(name)] = version.strip()
    return pins


def installed_versions() -> dict[str, str]:
    """name -> version of every distribution this interpreter sees (the first on sys.path wins, as imports do)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version)
    return found


def same_version(a: str, b: str) -> bool:
    if a == b:
        return True
    try:  # '1.0' and '1.0.0' are one version; packaging is in the lock but may be absent on a broken install
        from packaging.version import Version

        return Version(a) == Version(b)
    except Exception:
        return False


def requirement_closure(root: str) -> set[str]:
    """Names of everything `root` requires, transitively (markers ignored: an over-approximation is enough)."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(requirement_name(r) for r in requires if "extra ==" not in r)
    return seen - {root}


def environment_problems(lock: dict[str, str], installed: dict[str, str],
                         torch_only: set[str] | None = None) -> list[str]:
    """What differs between an environment and its lock. `torch_only` (given when the user brought their own
    torch) names packages that may be present unlocked; torch itself then may differ from its pin."""
    problems = []
    for name, version in sorted(lock.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}=={version} is in the lock but not installed")
        elif not same_version(have, version) and not (torch_only is not None and name == "torch"):
            problems.append(f"{name} is installed at {have}, the lock pins {version}")
    for name, have in sorted(installed.items()):
        if name in lock or name == PROJECT or (torch_only is not None and name in torch_only):
            continue
        problems.append(f"{name}=={have} is installed but not in the lock")
    return problems


def pyproject_requirements(path: Path) -> list[str]:
    """The direct requirements of the project with the extras setup.sh installs; a self-reference such as
    'finecliper[cues,train]' is followed into those extras."""
    import tomllib  # Python >= 3.11, which the lock targets

    project = tomllib.loads(path.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    reqs, todo, seen = list(project.get("dependencies", [])), list(LOCKED_EXTRAS), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in extras.get(extra, []):
            if requirement_name(req) == PROJECT:
                todo.extend(e.strip() for e in re.search(r"\[(.*)\]", req).group(1).split(","))
            else:
                reqs.append(req)
    return reqs


def pyproject_problems(lock: dict[str, str], requirements: list[str]) -> list[str]:
    """Each direct requirement of pyproject.toml must be locked, at a version its range allows."""
    from packaging.requirements import Requirement

    problems = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        pinned = lock.get(canonical(req.name))
        if pinned is None:
            problems.append(f"pyproject.toml asks for '{text}', which the lock does not have")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"pyproject.toml asks for '{text}', the lock pins {pinned}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements" / "lock.txt")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)

    lock = read_lock(args.lock)
    shown = args.lock.relative_to(ROOT) if args.lock.is_relative_to(ROOT) else args.lock
    user_torch = (Path(sys.prefix) / USER_TORCH_MARKER).is_file()
    torch_only = requirement_closure("torch") - set(lock) if user_torch else None
    problems = pyproject_problems(lock, pyproject_requirements(args.pyproject))
    problems += environment_problems(lock, installed_versions(), torch_only)
    if problems:
        print(f"check_lock: {sys.prefix} is not {shown}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Rebuild it with 'bash scripts/setup.sh' (a fresh .venv removes stray packages), or, after changing "
              "pyproject.toml, refresh the lock with 'bash scripts/update-lock.sh --keep'.", file=sys.stderr)
        return 1
    torch_note = " (torch: the user's own build)" if user_torch else ""
    print(f"check_lock: the environment is {shown}, {len(lock)} packages{torch_note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
