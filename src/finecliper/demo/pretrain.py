"""Contrastive pretraining of the demo's small CLIP on synthetic image-text pairs, saved as a HF CLIP folder.

Real FineCLIPER starts from a CLIP that already knows faces, the words for what faces do, and the
kinds of images its branches show; a random CLIP knows nothing. So the demo first teaches its small
CLIP (`arch/small.json`) what real CLIP would bring, from the *training* identities only:

- images: frames, and the renderings the model's cue branches see (parsing maps in their palette,
  landmarks as dots on the frame, drawn by the cue kinds' renderers), one kind per sampled frame;
- texts: phrases for what the face does in that frame, worded as the landmark describer words
  movements ("eyebrows rise", "jaw drops": `synth.expressions.ACTION_PHRASES`, from the generator's
  known action units); and sentences saying which expression the frame shows and which it does not,
  in the form of the PN descriptors ("A person with an expression of surprise" / "... of no
  happiness"), as web captions name expressions. A frame half way to its apex neither clearly shows
  its expression nor clearly does not: those pairs are left out of the loss.

Loss [OURS]: the sigmoid image-text loss of SigLIP (Zhai et al., 2023) between every image of a batch
and every text, each pair a match or not. A frame matches several texts at once, which a softmax over
captions cannot say, and the sigmoid loss learns from every pair: the small model learns in about a
minute of CPU (a softmax CLIP loss over whole captions did not learn at all in that time). The
tokenizer is a BPE one learned on the demo's texts (`demo.vocabulary`). The result is written with
`CLIPModel.save_pretrained` and the tokenizer's `save_pretrained`, and is then used through
`model.weights=DIR` exactly like a user's CLIP folder (loaded strictly, architecture and vocabulary
checked).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from finecliper import atomic
from finecliper.config.model import ModelConfig
from finecliper.data.cue_kinds.landmarks import render_landmarks
from finecliper.data.cue_kinds.parsing import render_parsing
from finecliper.data.manifest import ClipRecord
from finecliper.data.normalize import normalize
from finecliper.data.spatial import center_box
from finecliper.data.transforms import apply_spatial
from finecliper.data.video import read_clip
from finecliper.errors import UserError
from finecliper.model.architectures import architecture_dict
from finecliper.model.backbone import build_clip
from finecliper.model.pn import pn_sentences
from finecliper.synth.expressions import (
    ACTION_PHRASES,
    ClipPlan,
    action_phrases,
    course,
    shown_expression,
)

log = logging.getLogger(__name__)

ARCHITECTURE = "small"
IMAGE_KINDS = ("frames", "parsing", "landmarks")


def expression_sentences(classes: list[str]) -> tuple[list[str], list[str]]:
    """Sentences that say which expression a face shows and which it does not: the form of the PN
    descriptors (`model.pn`, with ModelConfig's default templates), as captions on the web word it."""
    cfg = ModelConfig()
    return pn_sentences(classes, cfg.positive_template, cfg.negative_template, cfg.negation)


def pretraining_pairs(records: list[ClipRecord], plans: dict[str, dict], cues, classes: list[str], num_frames: int,
                      per_clip: int, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N, S, S, 3) uint8, their targets (N, P) float over P texts, and the texts.

    `per_clip` frames of every clip; each becomes one image of a random kind (frame, parsing map or
    landmarks), rendered at `size` by the model's own renderers from the cue store `cues`. Targets are
    1 (the text holds for the image), 0 (it does not) or NaN (unknown: whether a frame half way to its
    apex "shows" its expression, left out of the loss).
    """
    positive, negative = expression_sentences(classes)
    texts = list(ACTION_PHRASES) + positive + negative
    column = {p: i for i, p in enumerate(texts)}
    first_pos, first_neg = len(ACTION_PHRASES), len(ACTION_PHRASES) + len(classes)
    images, targets = [], []
    for record in records:
        plan = ClipPlan(**plans[record.id])
        weights, states, _ = course(plan, num_frames)
        picks = np.sort(rng.choice(num_frames, size=min(per_clip, num_frames), replace=False))
        frames = read_clip(record.full_path, picks)
        clip_cues = cues.load(record.id)
        box = center_box(*frames.shape[1:3])  # the test-time transform of the dataset
        frames, parsing, points = apply_spatial(box, size, frames, clip_cues.parsing[picks], clip_cues.landmarks[picks])
        kinds = rng.integers(len(IMAGE_KINDS), size=len(picks))
        for k, kind in enumerate(kinds):
            if IMAGE_KINDS[kind] == "parsing":
                images.append(render_parsing(parsing[k : k + 1])[0])
            elif IMAGE_KINDS[kind] == "landmarks":
                images.append(render_landmarks(frames[k : k + 1], points[k : k + 1])[0])
            else:
                images.append(frames[k])
            state = states[picks[k]]
            row = np.zeros(len(texts), dtype=np.float32)
            row[[column[p] for p in action_phrases(state)]] = 1.0
            shown = shown_expression(plan.label, float(weights[picks[k]]), state)
            row[first_neg:] = 1.0  # "... of no X": true of every expression the face does not show
            if shown is not None:
                row[first_pos + classes.index(shown)] = 1.0
                row[first_neg + classes.index(shown)] = 0.0
            else:  # on the way to or from its apex: neither clearly shown nor clearly not
                row[first_pos + classes.index(plan.label)] = np.nan
                row[first_neg + classes.index(plan.label)] = np.nan
            targets.append(row)
    return np.stack(images), np.stack(targets), texts


def image_features(clip, pixels: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) -> (N, D) projected image embeddings (the same path as FineCLIPER.encode_images)."""
    return clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)


def _text_features(clip, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, L) token ids -> (N, D) projected text embeddings."""
    return clip.text_projection(clip.text_model(input_ids=ids, attention_mask=mask).pooler_output)


def pretrain_clip(images: np.ndarray, targets: np.ndarray, texts: list[str], tokenizer, out: str | Path,
                  steps: int = 400, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                  progress: bool = True) -> dict:
    """Train the small CLIP on images and their text targets; save it and `tokenizer` as a HF CLIP folder.

    images (N, S, S, 3) uint8 at the architecture's size, targets (N, P) over `texts` (1, 0 or NaN for
    unknown). Returns a summary: steps, images, texts, the final loss, and how often an image's
    best-scoring expression sentence is the one it shows (on the training images that show one).
    """
    if len(images) != len(targets) or len(images) < 2:
        raise UserError("contrastive pretraining needs at least two images with their text targets")
    size = architecture_dict(ARCHITECTURE)["vision_config"]["image_size"]
    if images.shape[1:3] != (size, size):
        raise UserError(f"pretraining images must be {size} x {size}, got {images.shape[1:3]}")
    torch.manual_seed(seed)
    clip = build_clip(ARCHITECTURE, tokenizer.eos_token_id)
    clip.train()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]  # (P, L), padded to the longest phrase
    pixels = normalize(images)  # (N, 3, S, S)
    known = torch.from_numpy(~np.isnan(targets)).float()  # (N, P): pairs in the loss
    labels = torch.from_numpy(np.nan_to_num(targets)).float()  # (N, P)
    # SigLIP's learned bias; the temperature is CLIP's own logit scale. The bias is not part of CLIP.
    bias = torch.nn.Parameter(torch.tensor(-5.0))

    params = [*clip.parameters(), bias]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    gen = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(images))
    loss_value = float("nan")
    with tqdm(total=steps, desc="pretrain CLIP", unit="step", disable=not progress) as bar:
        for _ in range(steps):
            pick = torch.randperm(len(images), generator=gen)[:batch_size]
            img = F.normalize(image_features(clip, pixels[pick]), dim=-1)  # (B, D)
            txt = F.normalize(_text_features(clip, ids, mask), dim=-1)  # (P, D)
            logits = clip.logit_scale.exp().clamp(max=100) * img @ txt.t() + bias  # (B, P)
            loss = F.binary_cross_entropy_with_logits(logits, labels[pick], weight=known[pick], reduction="sum") / len(pick)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            loss_value = float(loss.detach())
            bar.set_postfix(loss=f"{loss_value:.3f}")
            bar.update(1)
    clip.eval()
    accuracy = expression_accuracy(clip, pixels, labels * known, ids, mask, texts)
    with atomic.atomic_dir(out) as folder:  # a CLIP folder that exists is complete
        clip.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    return {"steps": steps, "images": len(images), "texts": len(texts), "loss": loss_value,
            "expression_accuracy": accuracy}


@torch.no_grad()
def expression_accuracy(clip, pixels: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                        texts: list[str], limit: int = 2048) -> float:
    """Among (up to `limit`) images that show an expression, the share whose best positive expression
    sentence (scored as the PN head scores: positive minus negative similarity) is the one they show."""
    n = (len(texts) - len(ACTION_PHRASES)) // 2
    pos = list(range(len(ACTION_PHRASES), len(ACTION_PHRASES) + n))
    neg = [i + n for i in pos]
    shows = labels[:limit, pos]  # (N, C)
    keep = shows.sum(dim=1) > 0
    if not bool(keep.any()):
        return float("nan")
    txt = F.normalize(_text_features(clip, ids, mask), dim=-1)  # (P, D)
    img = torch.cat([F.normalize(image_features(clip, pixels[i : i + 256]), dim=-1)
                     for i in range(0, min(limit, len(pixels)), 256)])  # (N, D)
    scores = img[keep] @ txt[pos].t() - img[keep] @ txt[neg].t()  # (K, C)
    return float(shows[keep].gather(1, scores.argmax(dim=1)[:, None]).float().mean())
