"""Linear probes on single middle frames: what a clip's class is worth without its dynamics.

The frozen CLIP (the same folder FineCLIPER uses) embeds each clip's middle frame, read, cropped and
rendered by the training data path (`ClipDataset` with one frame per clip: TSN's test-time sample is
the middle frame); a logistic regression (scikit-learn) is fitted on the training identities and
scored on the held-out ones. With `branches` the middle frame's parsing map and landmark image are
embedded too and their features concatenated: the best a single frame can do with every cue. A probe
far below the full model says the classes live in the movement, not in any one frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from finecliper.data.dataset import ClipDataset
from finecliper.data.loader import collate
from finecliper.data.manifest import ClipRecord
from finecliper.data.prepare import prepare_batch
from finecliper.demo.pretrain import image_features
from finecliper.training.metrics import classification_metrics


@torch.no_grad()
def middle_frame_features(clip, records: list[ClipRecord], class_names: list[str], size: int, cues=None,
                          branches: tuple[str, ...] = (), batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) unit CLIP image embeddings of each clip's middle frame (and of its cue renderings), (N,) labels."""
    data = ClipDataset(records, class_names, train=False, num_frames=1, size=size, cues=cues, branches=branches)
    features, labels = [], []
    for start in range(0, len(data), batch_size):
        batch = prepare_batch(collate([data[i] for i in range(start, min(start + batch_size, len(data)))]), "cpu")
        parts = []
        for key in ("frames", *data.branches):
            pixels = batch[key][:, 0]  # (B, 3, S, S): the one frame of each clip
            parts.append(F.normalize(image_features(clip, pixels), dim=-1))
        features.append(torch.cat(parts, dim=1).numpy())
        labels.append(batch["labels"].numpy())
    return np.concatenate(features), np.concatenate(labels)


def linear_probe(clip, train: list[ClipRecord], test: list[ClipRecord], class_names: list[str], size: int,
                 cues=None, branches: tuple[str, ...] = (), seed: int = 0) -> dict:
    """UAR, WAR, per-class recall and confusion of a logistic regression on middle-frame features."""
    # scikit-learn is an optional extra (train), needed only by the ablation's probes.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = middle_frame_features(clip, train, class_names, size, cues, branches)
    x_test, y_test = middle_frame_features(clip, test, class_names, size, cues, branches)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    probe.fit(x_train, y_train)
    return classification_metrics(y_test, probe.predict(x_test), class_names)
