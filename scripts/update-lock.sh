#!/usr/bin/env bash
# Re-resolves requirements/lock.txt from pyproject.toml (extras all + dev) and requirements/tools.in, with
# torch held by requirements/constraints.in and requirements/overrides.in applied, then rebuilds .venv from
# the new lock and runs the suite. Commit the lock only when the suite passes.
#   bash scripts/update-lock.sh          newest versions everything allows (the periodic refresh)
#   bash scripts/update-lock.sh --keep   keep current pins, only add/remove what pyproject.toml changed
# The lock targets CPython 3.11 on x86-64 Linux (manylinux 2.28), the machines setup.sh and CI run on.
set -euo pipefail
cd "$(dirname "$0")/.."
upgrade=--upgrade
case "${1:-}" in
  --keep) upgrade= ;;
  "") ;;
  *) echo "usage: bash scripts/update-lock.sh [--keep]" >&2; exit 2 ;;
esac

uv=$(command -v uv || true)
if [ -z "$uv" ] && [ -x .venv/bin/uv ]; then uv=.venv/bin/uv; fi
if [ -z "$uv" ]; then
  echo "update-lock: no uv on PATH and no .venv/bin/uv; run bash scripts/setup.sh first" >&2
  exit 2
fi

# torch's CPU build is found where pip finds it on these machines (its find-links folders).
links=()
for dir in ${PIP_FIND_LINKS:-} $(python3 -m pip config get global.find-links 2>/dev/null || true); do
  [ -d "$dir" ] && links+=(--find-links "$dir")
done

"$uv" pip compile pyproject.toml requirements/tools.in --extra all --extra dev \
  --constraint requirements/constraints.in --override requirements/overrides.in \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  ${upgrade} "${links[@]}" \
  --custom-compile-command "bash scripts/update-lock.sh" \
  --output-file requirements/lock.txt
bash scripts/setup.sh
.venv/bin/python -m pytest -q
echo "update-lock: requirements/lock.txt refreshed and the suite passes; review 'git diff requirements/lock.txt' and commit it"
