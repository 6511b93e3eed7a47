"""Optional per-stage timing of the cue extractor, for `finecliper bench cues`.

`Extractor(settings, timer=StageTimer())` adds each stage's wall and CPU seconds (CPU: the whole
process, all threads) to the timer as the real extraction runs; without a timer the stages are not
timed at all. The benchmark thus measures the code that `finecliper cues` runs, not a copy of it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)  # stage name -> seconds, summed over its calls
        self.cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.process_time() - cpu
