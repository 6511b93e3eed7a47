"""`finecliper predict`: the expression of one or more video files (or frame folders) with a checkpoint.

    finecliper predict VIDEO [VIDEO ...] --checkpoint CKPT [--crop auto|none] [--describe none|landmarks]
                       [--description TEXT] [--top K] [--json] [--out FILE] [--set KEY=VALUE]
                       [--quantize int8]     (CPU: the frozen CLIP towers' linear layers in int8)
                       [--backend facexformer --weights model.pt]  (cue backend; default: the training store's)

Prints one line per clip: the most likely classes with their probabilities, and how the clip was read.
`--json` prints {"checkpoint", "class_names", "predictions": [{"path", "label", "probabilities",
"scores", "frames", "face_cropped", "weight", "description", "description_source", "notes"}]} instead;
`--out FILE` writes that object to FILE (atomically) as well. Exit status 2 with one sentence on bad
input (a missing file, a clip without a face, a checkpoint that does not fit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm import tqdm

from finecliper import atomic
from finecliper.cues.backends import CROP_MODES, LANDMARK_BACKENDS, PARSING_BACKENDS
from finecliper.devices import DEVICE_HELP
from finecliper.errors import UserError
from finecliper.inference import DESCRIBE_MODES, QUANTIZE_MODES  # light: Predictor is loaded on first use
from finecliper.paths import output_file


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="expression of video files with a trained checkpoint")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video file or folder of frames")
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint of `finecliper train`")
    p.add_argument("--crop", default="auto", choices=CROP_MODES,
                   help="auto: find and crop the face in clips that are not face crops; none: use frames whole")
    p.add_argument("--describe", default="none", choices=DESCRIBE_MODES,
                   help="landmarks: describe the facial movements for the description branch (default: none, w = 1)")
    p.add_argument("--description", metavar="TEXT",
                   help="your own description of the clip (e.g. from a video LLM), refined before use")
    p.add_argument("--backend", choices=LANDMARK_BACKENDS,
                   help="landmark backend of the cue extraction (default: what the checkpoint's cue store used, "
                        "else mediapipe)")
    p.add_argument("--weights", metavar="FILE", help="its model file (--backend facexformer: the authors' model.pt)")
    p.add_argument("--parsing-backend", choices=PARSING_BACKENDS,
                   help="parsing maps for the parsing branch (default: what the checkpoint's cue store used, else mesh)")
    p.add_argument("--parsing-weights", metavar="DIR", help="local face-parsing model folder (segformer)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. model.weights=PATH when the backbone lies elsewhere (repeatable)")
    p.add_argument("--top", type=int, default=3, help="classes shown per clip (default 3)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--quantize", default="none", choices=QUANTIZE_MODES,
                   help="int8: dynamic int8 quantization of the frozen CLIP towers' linear layers, faster on "
                        "the CPU (refused on CUDA)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("--out", metavar="FILE", help="also write the JSON object to FILE")
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.inference import Predictor  # torch and the model: only when predicting

    if args.description is not None and len(args.videos) > 1:
        raise UserError("--description describes one clip; give a single VIDEO with it")
    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    missing = [v for v in args.videos if not Path(v).exists()]
    if missing:
        raise UserError(f"video {missing[0]} does not exist")
    if args.out:
        output_file(args.out)
    predictor = Predictor(args.checkpoint, args.overrides, args.device, args.crop, args.describe,
                          args.parsing_backend, args.parsing_weights, args.quantize, args.backend, args.weights)
    # A bar for several clips; lines go through it so they do not tear it apart.
    bar = tqdm(args.videos, desc="predict", unit="clip", dynamic_ncols=True, file=sys.stderr,
               disable=len(args.videos) < 2)
    predictions = []
    for video in bar:
        pred = predictor.predict(video, args.description)
        predictions.append(pred)
        if not args.json:
            bar.write(_line(pred, args.top), file=sys.stdout)
    text = json.dumps(predictor.json_object(predictions), indent=2) + "\n"
    if args.out:
        atomic.write_text(Path(args.out), text)
    if args.json:
        sys.stdout.write(text)
    return 0


def _line(pred, k: int) -> str:
    classes = "  ".join(f"{name} {p * 100:.1f}%" for name, p in pred.top(k))
    how = ["face cropped from a raw video" if pred.face_cropped else "frames used whole", f"{pred.frames} frames"]
    if pred.description_source:
        how.append(f"{pred.description_source} description, w = {pred.weight:.2f}")
    how.extend(pred.notes)
    return f"{pred.path}: {classes}  ({'; '.join(how)})"
