"""`finecliper cues`: 68 landmarks and an 11-class parsing map for every frame of every clip of a manifest.

    finecliper cues --manifest M --out DIR [--backend mediapipe] [--parsing-backend mesh|segformer
                    --parsing-weights DIR] [--workers N] [--crop auto|none] [--preview CLIP_ID]
    finecliper cues --manifest M --out DIR --backend facexformer --weights ckpts/model.pt [--device cuda]

`--backend facexformer` runs the paper's cue model from the authors' checkpoint file (README, "FaceXFormer
cues"): its landmarks and its parsing maps (hair included) come from one pass, batched on --device.

Resumable: rerunning the same command skips finished clips and redoes corrupt ones. Exit status 0 when
every clip has cues, 1 when some clips failed (listed, with reasons, in the summary and in
DIR/summary.json), 2 on bad input. `--preview CLIP_ID` processes only that clip (unless it is done
already) and writes DIR/preview/<CLIP_ID>.png; `--json` prints the summary as a JSON object
{"clips", "done", "skipped", "redone", "failed": [{"id", "reason"}], "frames", "frames_without_face",
"clips_with_frames_without_face"}.

`--shard I/N` (several GPUs or machines: torchrun's RANK, a job array's task id) processes only every N-th
clip of the manifest from the I-th (I counts from 0); all shards may share one --out store (one file per
clip, written atomically), and each writes its summary to DIR/summary.shard-I-of-N.json. A last run
without --shard checks the store: it skips every finished clip and does any that are missing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from finecliper.errors import UserError
from finecliper.paths import output_folder


def register(subparsers) -> None:
    from finecliper.cues.backends import CROP_MODES, LANDMARK_BACKENDS, PARSING_BACKENDS, backend_help
    from finecliper.devices import DEVICE_HELP

    p = subparsers.add_parser("cues", help="landmarks and face parsing for every frame of a manifest's clips")
    p.add_argument("--manifest", required=True, help="JSONL manifest (from `finecliper manifest`)")
    p.add_argument("--data-root", help="data root replacing the manifest's (data moved elsewhere)")
    p.add_argument("--out", required=True, help="cue store folder (created; reused to resume)")
    p.add_argument("--backend", default="mediapipe", choices=LANDMARK_BACKENDS, help=backend_help(LANDMARK_BACKENDS))
    p.add_argument("--weights", metavar="FILE",
                   help="model file of a landmark backend that loads one (--backend facexformer: ckpts/model.pt)")
    p.add_argument("--parsing-backend", choices=PARSING_BACKENDS,
                   help="default: the landmark backend's own (mesh for mediapipe); " + backend_help(PARSING_BACKENDS))
    p.add_argument("--parsing-weights", metavar="DIR",
                   help="local model folder of a parsing backend that loads one (e.g. --parsing-backend segformer)")
    p.add_argument("--crop", default="auto", choices=CROP_MODES,
                   help="auto: find and crop the face in clips that are not face crops; none: use frames whole")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--shard", metavar="I/N", help="only shard I of N of the clips (I from 0); shards may share --out")
    p.add_argument("--preview", metavar="CLIP_ID", help="only this clip, and write a PNG strip of its cues")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _device(arg: str | None, settings) -> str:
    """The models' device; only backends with a model have one, so only they pick CUDA by themselves."""
    from finecliper.cues.backends import LANDMARK_BACKENDS, PARSING_BACKENDS
    from finecliper.devices import resolve_device

    settings.validate()  # unknown names first, before a device is looked for
    has_model = LANDMARK_BACKENDS.get(settings.backend).needs_weights or PARSING_BACKENDS.get(
        settings.parsing_backend).needs_weights
    if arg is None and not has_model:
        return "cpu"  # MediaPipe and the mesh fill have no model to place on a GPU
    return str(resolve_device(arg))


def run(args) -> int:
    from finecliper.cues.extract import CueSettings
    from finecliper.cues.pipeline import run_cues, summary_path
    from finecliper.data.cue_store import CueStore
    from finecliper.data.manifest import read_manifest
    from finecliper.data.shards import Shard

    output_folder(args.out)
    shard = None if args.shard is None else Shard.parse(args.shard)
    if shard is not None and args.preview is not None:
        raise UserError("--preview processes one clip: leave out --shard")
    records = read_manifest(args.manifest, args.data_root)
    if not records:
        raise UserError(f"manifest {args.manifest} lists no clips")
    settings = CueSettings(backend=args.backend, parsing_backend=args.parsing_backend, weights=args.weights,
                           parsing_weights=args.parsing_weights, crop=args.crop)
    settings.device = _device(args.device, settings)
    if args.preview is not None:
        records = [r for r in records if r.id == args.preview]
        if not records:
            raise UserError(f"clip {args.preview!r} is not in manifest {args.manifest}")
    summary = run_cues(records, args.out, settings, workers=args.workers, progress=not args.no_progress,
                       shard=shard)
    if args.json:
        print(json.dumps(asdict(summary), indent=2))
    else:
        print(summary.text())
    if args.preview is not None and not summary.failed:
        from finecliper.cues.preview import write_preview

        store = CueStore(args.out)
        path = write_preview(records[0], store, store.root / "preview" / f"{args.preview.replace('/', '__')}.png")
        print(f"preview: {path}", file=sys.stderr if args.json else sys.stdout)
    if summary.failed:
        print(f"finecliper cues: {len(summary.failed)} of {summary.clips} clips failed; see "
              f"{summary_path(CueStore(args.out).root, shard)}", file=sys.stderr)
        return 1
    return 0
