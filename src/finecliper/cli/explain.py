"""`finecliper explain`: what a checkpoint sees in one clip, as figures and numbers.

    finecliper explain CLIP --checkpoint CKPT --out DIR [--attention rollout|last-cls]
                       [--crop auto|none] [--describe none|landmarks] [--description TEXT] [--set KEY=VALUE]

Writes into DIR: `inputs.png` (a row of the sampled frames per image branch: frames, parsing map, landmarks),
`attention.png` (the same rows with the adapted image tower's attention maps on top), `similarity.png`
(class-wise cosines of the clip to the positive and negative sentences, the description and its weight w)
and `explain.json` (the prediction, the maps, the cosines, the description and w).
"""

from __future__ import annotations

from pathlib import Path

from finecliper.cues.backends import CROP_MODES
from finecliper.devices import DEVICE_HELP
from finecliper.errors import UserError
from finecliper.inference import DESCRIBE_MODES
from finecliper.paths import output_folder

ATTENTION_METHODS = ("rollout", "last-cls")  # explain.attention.METHODS, without importing torch for --help


def register(subparsers) -> None:
    p = subparsers.add_parser("explain", help="attention maps and class-wise similarities of one clip")
    p.add_argument("clip", metavar="CLIP", help="video file or folder of frames")
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint of `finecliper train`")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs and explain.json")
    p.add_argument("--attention", default="rollout", choices=ATTENTION_METHODS,
                   help="rollout: attention rollout through all layers (default); last-cls: the last layer's CLS attention")
    p.add_argument("--crop", default="auto", choices=CROP_MODES,
                   help="auto: find and crop the face in clips that are not face crops; none: use frames whole")
    p.add_argument("--describe", default="none", choices=DESCRIBE_MODES,
                   help="landmarks: describe the facial movements for the description branch (default: none, w = 1)")
    p.add_argument("--description", metavar="TEXT", help="your own description of the clip, refined before use")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. model.weights=PATH when the backbone lies elsewhere (repeatable)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.explain.explainer import explain_clip
    from finecliper.explain.files import write_explanation
    from finecliper.inference import Predictor

    if not Path(args.clip).exists():
        raise UserError(f"video {args.clip} does not exist")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a file; give a folder")
    output_folder(args.out)  # writable, before the model runs (like every other --out)
    predictor = Predictor(args.checkpoint, args.overrides, args.device, args.crop, args.describe)
    expl = explain_clip(predictor, args.clip, args.description, args.attention)
    paths = write_explanation(expl, args.out)
    pred = expl.prediction
    print(f"{args.clip}: {pred.label} {pred.probabilities[pred.label] * 100:.1f}%  (w = {pred.weight:.2f})")
    print("wrote " + "  ".join(str(p) for p in paths.values()))
    return 0
