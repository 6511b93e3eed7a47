#!/usr/bin/env bash
# Creates .venv and installs finecliper with every optional part, offline-safe:
# torch first (pinned, so pip takes the CPU build on disk rather than GBs of CUDA wheels),
# then everything else under constraints.txt so nothing can move torch again.
# FINECLIPER_TORCH overrides the torch requirement (e.g. "torch==2.13.0" from a CUDA index).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q "${FINECLIPER_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all,dev]"
