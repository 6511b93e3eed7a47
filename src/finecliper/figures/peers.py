"""Published DFEW figures of the methods the paper compares with in its Table 1 (UAR / WAR in %, tunable
parameters in millions where stated), as docs/design.md §2 lists them from the FineCLIPER paper (arXiv
2407.02157). A count the design notes do not state is None, and that peer stays out of the efficiency plot
rather than being guessed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    name: str
    uar: float
    war: float
    tunable_m: float | None  # tunable parameters, millions; None: not stated in docs/design.md §2


SOURCE = "FineCLIPER paper (arXiv 2407.02157), Table 1, via docs/design.md §2"
DFEW_PEERS = (
    Peer("DFER-CLIP", 59.61, 71.25, 90.0),
    Peer("MAE-DFER", 63.41, 74.43, None),
    Peer("S2D", 65.45, 74.81, 9.0),
    Peer("A³lign-DFER", 64.09, 74.20, None),
    Peer("EmoCLIP", 58.04, 62.12, None),
)
