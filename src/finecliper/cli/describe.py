"""`finecliper describe`: fine-grained movement descriptions for every clip of a manifest, refined.

    finecliper describe --manifest M --out FILE.jsonl --backend video-llava --weights DIR
                        [--frames 8] [--batch-size 1] [--max-new-tokens 96] [--prompt FILE]
                        [--device auto] [--dtype bfloat16|float16|float32]
    finecliper describe --manifest M --out FILE.jsonl --backend hf-video --weights DIR ...
    finecliper describe --manifest M --out FILE.jsonl --backend landmarks --cues DIR
    finecliper describe --manifest M --out FILE.jsonl --backend captions      (the manifest's captions)
    finecliper describe --refine IN.jsonl --out FILE.jsonl [--field raw]     (refinement only)

Every description goes through the refiner (`--strict` also removes smiles, frowns, tears, ...;
`--lexicon FILE` uses another lexicon). Resumable: rerunning the same command skips clips already in
FILE. Exit status 0 when every clip is described, 1 when some clips could not be read (listed in the
summary), 2 on bad input. `--json` prints the summary as a JSON object {"clips", "already_done",
"written", "changed", "emptied", "empty", "no_face", "skipped", "failed", "failures",
"repaired_bytes", "seconds", "clips_per_second"}.
"""

from __future__ import annotations

import json

from finecliper.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("describe", help="fine-grained movement descriptions of a manifest's clips, refined")
    p.add_argument("--manifest", help="JSONL manifest (from `finecliper manifest`)")
    p.add_argument("--data-root", help="data root replacing the manifest's (data moved elsewhere)")
    p.add_argument("--out", required=True, help="descriptions file (JSONL; appended to when resuming)")
    p.add_argument("--backend", help="video-llava, hf-video, landmarks or captions")
    p.add_argument("--weights", metavar="DIR", help="local model folder (video-llava, hf-video)")
    p.add_argument("--cues", metavar="DIR", help="cue store of the manifest (landmarks)")
    p.add_argument("--frames", type=int, default=8, help="frames per clip shown to the model (default 8)")
    p.add_argument("--batch-size", type=int, help="clips per generation batch (default 1; 16 for landmarks)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="longest description in tokens (default 96)")
    p.add_argument("--prompt", metavar="FILE", help="prompt YAML (default: the package's prompts/default.yaml)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--dtype", help="bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--workers", type=int, default=2, help="threads reading clips ahead of the model (default 2)")
    p.add_argument("--limit", type=int, help="describe at most this many new clips")
    p.add_argument("--refine", metavar="IN", help="refine the texts of a JSONL file instead of describing clips")
    p.add_argument("--field", help="text field of --refine's lines (default: raw, caption, text or description)")
    p.add_argument("--strict", action="store_true", help="also remove expressive actions (smile, frown, tears, ...)")
    p.add_argument("--lexicon", metavar="FILE", help="emotion lexicon (default: the package's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from finecliper.describe.refine import Refiner, load_lexicon

    refiner = Refiner(load_lexicon(args.lexicon), strict=args.strict)
    if args.refine is not None:
        if args.manifest is not None or args.backend is not None:
            raise UserError("--refine works on a JSONL file alone: leave out --manifest and --backend")
        from finecliper.describe.pipeline import refine_file

        summary = refine_file(args.refine, args.out, refiner, field=args.field)
        return _report(args, summary, f"refined {summary.written} texts from {args.refine} into {args.out}", "texts")

    if args.manifest is None or args.backend is None:
        raise UserError("give --manifest and --backend (video-llava, hf-video, landmarks or captions), or --refine FILE")
    for name in ("frames", "max_new_tokens", "workers"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    from finecliper.data.manifest import read_manifest
    from finecliper.describe.backends import build_backend
    from finecliper.describe.pipeline import describe_manifest
    from finecliper.describe.prompt import load_prompt

    clips = read_manifest(args.manifest, args.data_root)
    if not clips:
        raise UserError(f"manifest {args.manifest} lists no clips")
    prompt = load_prompt(args.prompt) if args.backend in ("video-llava", "hf-video") else None
    backend = build_backend(
        args.backend, weights=args.weights, cues=args.cues, prompt=prompt, dataset=clips[0].dataset,
        num_frames=args.frames, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        device=args.device, dtype=args.dtype,
    )
    summary = describe_manifest(clips, args.out, backend, refiner, limit=args.limit, workers=args.workers,
                                progress=False if args.no_progress else None)
    return _report(args, summary, f"described {summary.written} clips with {backend.name} into {args.out}")


def _report(args, summary, headline: str, unit: str = "clips") -> int:
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        parts = [
            f"{headline} in {summary.seconds:.1f} s ({summary.clips_per_second:.2f} {unit}/s)",
            f"{summary.already_done} already there" if summary.already_done else None,
            f"refinement changed {summary.changed} and emptied {summary.emptied}",
            f"{summary.empty} without text" if summary.empty else None,
            f"{summary.no_face} without a tracked face" if summary.no_face else None,
            f"{summary.skipped} skipped (nothing to describe)" if summary.skipped else None,
            f"{summary.failed} failed" if summary.failed else None,
        ]
        print("; ".join(p for p in parts if p))
        for failure in summary.failures:
            print(f"  failed: {failure}")
    return 1 if summary.failed else 0
