"""PN descriptors [PAPER]: a positive and a negative sentence per class, and the scores and loss on them.

A clip embedding z should be close to its class's positive sentence ("A person with an expression of
happiness") and far from its class's negative one ("... of no happiness"). With unit vectors p_c, n_c the
decision score is s_c = cos(z, p_c) - cos(z, n_c). The paper does not write its loss down; two forms
(`model.pn_loss`, docs/design.md §3):
    separate: CE(τ·cos(z, p), y) + CE(-τ·cos(z, n), y)   (a positive and a negative term)
    joint:    CE(τ·(cos(z, p) - cos(z, n)), y)          (the decision score itself; no negative term)
Zero-shot runs never train the PN adapters, so their score is a choice too (`model.zero_shot_score`):
`pos_minus_neg` (s_c above) or `pos` (cos(z, p_c) alone, as plain CLIP zero-shot scores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from finecliper.config.model import PN_LOSSES, SCORES

__all__ = ["PN_LOSSES", "SCORES", "pn_losses", "pn_scores", "pn_sentences"]


def pn_sentences(class_names: list[str], positive_template: str, negative_template: str,
                 negation: str) -> tuple[list[str], list[str]]:
    """The positive and negative sentences of each class, in class order."""
    positive = [positive_template.format(label=name) for name in class_names]
    negative = [negative_template.format(label=name, negation=negation) for name in class_names]
    return positive, negative


def pn_scores(pos_sim: torch.Tensor, neg_sim: torch.Tensor | None, kind: str = "pos_minus_neg") -> torch.Tensor:
    """(B, C) class scores from the cosine similarities to positive and (optionally) negative sentences:
    pos - neg, or pos alone (`kind="pos"`, and always without negative sentences)."""
    return pos_sim if neg_sim is None or kind == "pos" else pos_sim - neg_sim


def pn_losses(pos_sim: torch.Tensor, neg_sim: torch.Tensor | None, labels: torch.Tensor,
              scale: torch.Tensor | float, kind: str = "separate") -> dict[str, torch.Tensor]:
    """The terms of the PN loss `kind` (module docstring), by the names the model's output gives them:
    separate: loss_pos and loss_neg (0 without negative sentences); joint: loss_pn (CE(τ·pos) alone
    without negative sentences, the same loss as separate's then)."""
    if kind == "joint":
        return {"loss_pn": F.cross_entropy(scale * pn_scores(pos_sim, neg_sim), labels)}
    loss_neg = pos_sim.new_zeros(()) if neg_sim is None else F.cross_entropy(-scale * neg_sim, labels)
    return {"loss_pos": F.cross_entropy(scale * pos_sim, labels), "loss_neg": loss_neg}
