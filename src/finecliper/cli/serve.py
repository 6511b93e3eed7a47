"""`finecliper serve`: a local web page to drop a clip on and see what a checkpoint makes of it.

    finecliper serve --checkpoint CKPT [--host 127.0.0.1] [--port 7860] [--max-upload-mb 100]
                     [--attention rollout|last-cls] [--crop auto|none] [--describe none|landmarks]

Needs the optional extra `serve` (Gradio). The page shows the top classes with their probabilities, the
cue renderings, the attention maps, the class-wise similarities, the description and its weight w
(what `finecliper explain` writes). It binds to 127.0.0.1 unless --host says otherwise.
"""

from __future__ import annotations

import importlib.util
import logging

from finecliper.cli.explain import ATTENTION_METHODS
from finecliper.cues.backends import CROP_MODES
from finecliper.devices import DEVICE_HELP
from finecliper.errors import UserError
from finecliper.inference import DESCRIBE_MODES

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="a local web page to analyse clips with a checkpoint (needs the extra 'serve')")
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint of `finecliper train`")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-upload-mb", type=int, default=100, help="largest upload in MB (default 100)")
    p.add_argument("--attention", default="rollout", choices=ATTENTION_METHODS, help="attention maps shown")
    p.add_argument("--crop", default="auto", choices=CROP_MODES,
                   help="auto: find and crop the face in clips that are not face crops; none: use frames whole")
    p.add_argument("--describe", default="none", choices=DESCRIBE_MODES,
                   help="landmarks: describe the facial movements for the description branch (default: none, w = 1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. model.weights=PATH when the backbone lies elsewhere (repeatable)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    if importlib.util.find_spec("gradio") is None:
        raise UserError("the web page needs Gradio; install the extra: pip install 'finecliper[serve]'")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_upload_mb < 1:
        raise UserError(f"--max-upload-mb must be at least 1, got {args.max_upload_mb}")
    from finecliper.inference import Predictor
    from finecliper.serve.page import serve

    predictor = Predictor(args.checkpoint, args.overrides, args.device, args.crop, args.describe)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: anyone who can reach this address can upload clips", args.host)
    serve(predictor, args.host, args.port, args.max_upload_mb, args.attention)
    return 0
