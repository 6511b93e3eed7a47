"""Where the tests find the real official split files of DFEW, FERV39k and MAFW.

`$FINECLIPER_SPLITS_DIR` when set, else `../shared/datasets` beside the repository (the project's
reference copy). Tests that need them are skipped, with this path in the reason, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

SPLITS = Path(os.environ.get("FINECLIPER_SPLITS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "datasets")
