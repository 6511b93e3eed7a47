"""FaceXFormer's network: Swin-B features fused into one map, decoded by task tokens into landmarks and parsing.

The four Swin stage outputs are each projected to the decoder width (`linear_c`), resized to the first
stage's grid (56 x 56 at 224 input), concatenated deepest stage first and fused by a 1 x 1 convolution
(`linear_fuse`). A random-Fourier positional encoding of that grid (`pe_layer`) and 18 learned tokens (one
per task, then 11 parsing-class tokens) enter the two-way transformer. The landmark token's MLP gives 68
(x, y) points in [-1, 1]; each class token's hypernetwork MLP gives a vector that is dotted with the
4x-upscaled image tokens, one logit map per class at input resolution.

The authors' module tree is kept exactly (`state_dict()` keys equal theirs) so their checkpoint loads
strictly. Their pose, attribute, visibility, age, gender and race heads are defined for that reason only:
nothing here reads those tasks, so `forward` never computes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from finecliper.cues.facexformer.swin import SwinBackbone
from finecliper.cues.facexformer.two_way import TwoWayTransformer
from finecliper.errors import UserError

INPUT_SIZE = 224
# ImageNet statistics: the authors normalise the RGB crop (values in [0, 1]) with them.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NUM_PARSING = 11
NUM_LANDMARKS = 68
# The tasks' token names, in the order the authors concatenate them; the parsing-class tokens follow.
TASK_TOKENS = ("landmarks", "pose", "attribute", "visibility", "age", "gender", "race")
# Output sizes of the heads of the tasks this package does not use (kept for a strict load).
UNUSED_HEADS = {"pose": 3, "attribute": 40, "visibility": 29, "age": 8, "gender": 2, "race": 5}


@dataclass(frozen=True)
class FaceXFormerConfig:
    """The sizes that shape the network; the defaults are the authors' (Swin-B and a 256-wide decoder).

    decoder_heads cannot be read from a checkpoint (heads change no tensor's shape), so a loaded model
    always uses the value given here.
    """

    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window: int = 7
    patch: int = 4
    decoder_dim: int = 256
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp: int = 2048

    def __post_init__(self):
        problem = self._problem()
        if problem:
            raise UserError(f"FaceXFormer sizes do not fit together: {problem}")

    def _problem(self) -> str:
        if len(self.depths) != 4 or len(self.num_heads) != 4:
            return f"it needs 4 Swin stages, got depths {self.depths} and heads {self.num_heads}"
        if min(self.depths) < 1 or min(self.embed_dim, self.window, self.patch, self.decoder_depth) < 1:
            return "every depth and size must be at least 1"
        for stage, heads in enumerate(self.num_heads):
            if heads < 1 or (self.embed_dim * 2**stage) % heads:
                return f"stage {stage + 1}'s {heads} heads do not divide its width {self.embed_dim * 2**stage}"
        # The cross attentions work at half the decoder width; the upscaling ends at an eighth of it.
        if self.decoder_dim % 8 or self.decoder_heads < 1 or (self.decoder_dim // 2) % self.decoder_heads:
            return (f"the decoder width {self.decoder_dim} must be a multiple of 8 whose half "
                    f"the {self.decoder_heads} decoder heads divide")
        if self.decoder_mlp < 1:
            return "the decoder MLP width must be at least 1"
        return ""

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.embed_dim * 2**stage for stage in range(len(self.depths)))


PUBLISHED = FaceXFormerConfig()
# A network small enough for tests (same structure and window; any input size works).
TINY = FaceXFormerConfig(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2), decoder_dim=32,
                         decoder_mlp=64)


class MLP(nn.Module):
    """Linear layers with ReLU between them (not after the last), under `layers.{i}` as the authors name it."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int, num_layers: int = 3):
        super().__init__()
        sizes = [dim_in] + [hidden] * (num_layers - 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, eps 1e-6 (SAM's, which the authors reuse)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], eps=self.eps)
        return x.permute(0, 3, 1, 2) * self.weight[:, None, None] + self.bias[:, None, None]


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of grid positions: a cell's centre, scaled to [-1, 1] as (x, y), times a
    fixed Gaussian matrix and 2 pi, gives [sin, cos] features; the matrix is a buffer stored in the file."""

    def __init__(self, num_features: int):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_features))

    def forward(self, height: int, width: int) -> torch.Tensor:
        """-> (2 * num_features, height, width)."""
        matrix = self.positional_encoding_gaussian_matrix
        ys = (torch.arange(height, device=matrix.device, dtype=matrix.dtype) + 0.5) / height
        xs = (torch.arange(width, device=matrix.device, dtype=matrix.dtype) + 0.5) / width
        coords = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, [x, y])
        angles = 2 * math.pi * ((2 * coords - 1) @ matrix)
        return torch.cat([angles.sin(), angles.cos()], dim=-1).permute(2, 0, 1)


class FaceDecoder(nn.Module):
    """Task tokens through the two-way transformer, then the landmark head and the parsing hypernetwork."""

    def __init__(self, config: FaceXFormerConfig):
        super().__init__()
        dim = config.decoder_dim
        self.transformer = TwoWayTransformer(config.decoder_depth, dim, config.decoder_heads, config.decoder_mlp)
        for task in TASK_TOKENS:
            setattr(self, f"{task}_token", nn.Embedding(1, dim))
        self.mask_tokens = nn.Embedding(NUM_PARSING, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2), LayerNorm2d(dim // 4), nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2), nn.GELU())
        # One MLP shared by the 11 class tokens (the authors' name is plural, the module is one).
        self.output_hypernetwork_mlps = MLP(dim, dim, dim // 8)
        self.landmarks_prediction_head = MLP(dim, dim, 2 * NUM_LANDMARKS)
        for task, size in UNUSED_HEADS.items():
            setattr(self, f"{task}_prediction_head", MLP(dim, dim, size))

    def tokens(self) -> torch.Tensor:
        """(7 + 11, dim): the task tokens in the authors' order, then the parsing-class tokens."""
        task = [getattr(self, f"{name}_token").weight for name in TASK_TOKENS]
        return torch.cat([*task, self.mask_tokens.weight], dim=0)

    def landmarks(self, token: torch.Tensor) -> torch.Tensor:
        """The landmark token (B, dim) -> (B, 68, 2) points (x, y) in [-1, 1] (not clamped)."""
        return self.landmarks_prediction_head(token).view(-1, NUM_LANDMARKS, 2)

    def parsing(self, class_tokens: torch.Tensor, image: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """class_tokens (B, 11, dim) and image tokens (B, height*width, dim) -> logits (B, 11, 4*height, 4*width)."""
        b = image.shape[0]
        upscaled = self.output_upscaling(image.transpose(1, 2).reshape(b, -1, height, width))
        hyper = self.output_hypernetwork_mlps(class_tokens)  # (B, 11, dim // 8)
        return (hyper @ upscaled.flatten(2)).view(b, -1, *upscaled.shape[2:])

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (B, dim, H, W), image_pe (dim, H, W) -> (landmarks (B, 68, 2), parsing logits (B, 11, 4H, 4W))."""
        b, _, h, w = image.shape
        tokens = self.tokens()[None].expand(b, -1, -1)
        tokens, image_tokens = self.transformer(image, image_pe[None].expand(b, -1, -1, -1), tokens)
        return self.landmarks(tokens[:, 0]), self.parsing(tokens[:, len(TASK_TOKENS):], image_tokens, h, w)


class _Projection(nn.Module):
    """One stage's channels (last axis) to the decoder width, named `proj` as in the authors' file."""

    def __init__(self, width: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class FaceXFormer(nn.Module):
    """images (B, 3, 224, 224), ImageNet-normalised RGB -> (landmarks (B, 68, 2) in [-1, 1] as (x, y),
    parsing logits (B, 11, 224, 224)). Other input sizes that are multiples of 32 work too."""

    def __init__(self, config: FaceXFormerConfig = PUBLISHED):
        super().__init__()
        self.config = config
        self.backbone = SwinBackbone(config.embed_dim, config.depths, config.num_heads, config.window, config.patch)
        dim = config.decoder_dim
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.face_decoder = FaceDecoder(config)
        self.linear_c = nn.ModuleList(_Projection(width, dim) for width in config.widths)
        self.linear_fuse = nn.Conv2d(len(config.widths) * dim, dim, kernel_size=1, bias=False)

    def fused_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, dim, H/4, W/4): every stage projected, resized to stage 1's grid, deepest first."""
        stages = self.backbone.stages(images)
        size = stages[0].shape[1:3]
        maps = [F.interpolate(project(x).permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
                for project, x in zip(self.linear_c, stages, strict=True)]
        return self.linear_fuse(torch.cat(maps[::-1], dim=1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.fused_features(images)
        return self.face_decoder(fused, self.pe_layer(*fused.shape[2:]))


def landmarks_to_pixels(normalised, width: float, height: float):
    """(..., 2) landmarks in [-1, 1] as (x, y) -> continuous pixel coordinates of a width x height image,
    where pixel i spans [i, i + 1) (its centre is i + 0.5): x = (v + 1) / 2 * width.

    The authors' `denorm_points(align_corners=False)` gives ((v + 1) * width - 1) / 2, the index of the
    pixel whose centre it is (centre at i); this is that value + 0.5, the convention of this package.
    Takes and returns a torch tensor or anything numpy takes.
    """
    if isinstance(normalised, torch.Tensor):
        scale = torch.tensor([width, height], dtype=normalised.dtype, device=normalised.device)
        return (normalised + 1) / 2 * scale
    return (np.asarray(normalised, dtype=np.float64) + 1) / 2 * np.array([width, height], dtype=np.float64)
