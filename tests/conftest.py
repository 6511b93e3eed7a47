"""Test-wide setup: offline, CPU, caches in temporary folders (docs/design.md §9)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="finecliper-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
for _var in ("MPLCONFIGDIR", "HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME"):
    os.environ[_var] = os.path.join(_CACHE, _var.lower())
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")
