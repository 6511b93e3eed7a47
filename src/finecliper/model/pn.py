"""PN descriptors [PAPER]: a positive and a negative sentence per class, and the scores and loss on them.

A clip embedding z should be close to its class's positive sentence ("A person with an expression of
happiness") and far from its class's negative one ("... of no happiness"). With unit vectors p_c, n_c:
score s_c = cos(z, p_c) - cos(z, n_c); loss = CE(τ·cos(z, p), y) + CE(-τ·cos(z, n), y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pn_sentences(class_names: list[str], positive_template: str, negative_template: str,
                 negation: str) -> tuple[list[str], list[str]]:
    """The positive and negative sentences of each class, in class order."""
    positive = [positive_template.format(label=name) for name in class_names]
    negative = [negative_template.format(label=name, negation=negation) for name in class_names]
    return positive, negative


def pn_scores(pos_sim: torch.Tensor, neg_sim: torch.Tensor | None) -> torch.Tensor:
    """(B, C) class scores from the cosine similarities to positive and (optionally) negative sentences."""
    return pos_sim if neg_sim is None else pos_sim - neg_sim


def pn_losses(pos_sim: torch.Tensor, neg_sim: torch.Tensor | None, labels: torch.Tensor,
              scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive term, negative term) of the PN loss; the negative term is 0 without negative sentences."""
    loss_pos = F.cross_entropy(scale * pos_sim, labels)
    if neg_sim is None:
        return loss_pos, pos_sim.new_zeros(())
    return loss_pos, F.cross_entropy(-scale * neg_sim, labels)
