"""`finecliper describe`: fine-grained movement descriptions for every clip of a manifest, refined.

    finecliper describe --manifest M --out FILE.jsonl --backend video-llava --weights DIR
                        [--frames 8] [--batch-size 1] [--max-new-tokens 96] [--prompt NAME_OR_FILE]
                        [--device auto] [--dtype bfloat16|float16|float32]
    finecliper describe --manifest M --out FILE.jsonl --backend hf-video --weights DIR ...
    finecliper describe --manifest M --out FILE.jsonl --backend landmarks --cues DIR
    finecliper describe --manifest M --out FILE.jsonl --backend captions      (the manifest's captions)
    finecliper describe --refine IN.jsonl --out FILE.jsonl [--field raw]     (refinement only)
    finecliper describe --show-prompt [--prompt NAME_OR_FILE]               (print the prompt, exit)
    finecliper describe ... --out FILE.jsonl --shard I/N          (shard I of N, from 0: FILE.shard-I-of-N.jsonl)
    finecliper describe --merge N --manifest M --out FILE.jsonl   (the N finished shards into FILE.jsonl)

Every description goes through the refiner (`--strict` also removes smiles, frowns, tears, ...;
`--lexicon FILE` uses another lexicon). Resumable: rerunning the same command skips clips already in
FILE. Exit status 0 when every clip is described, 1 when some clips could not be read (listed in the
summary), 2 on bad input. `--json` prints the summary as a JSON object {"clips", "already_done",
"written", "changed", "emptied", "empty", "no_face", "skipped", "failed", "failures",
"repaired_bytes", "seconds", "clips_per_second", "splits"}; `splits` holds, per split of the manifest, "clips",
"without_description" (and its share) and, with --tokenizer DIR, "truncated" (and its share): the
descriptions longer than CLIP's 77 tokens, which the model cuts.

Sharded (several GPUs or machines: torchrun's RANK, a job array's task id): `--shard I/N` describes every
N-th distinct clip of the manifest from the I-th (I counts from 0) into its own file FILE.shard-I-of-N.jsonl
and marks the shard finished when done; `--merge N` checks that all N shards finished, hold exactly their
clips and used the same settings, and writes FILE.jsonl atomically, equal to the file of an unsharded run.
"""

from __future__ import annotations

import json

from finecliper.errors import UserError
from finecliper.paths import output_file


def register(subparsers) -> None:
    from finecliper.describe.backends import describer_names

    p = subparsers.add_parser("describe", help="fine-grained movement descriptions of a manifest's clips, refined")
    p.add_argument("--manifest", help="JSONL manifest (from `finecliper manifest`)")
    p.add_argument("--data-root", help="data root replacing the manifest's (data moved elsewhere)")
    p.add_argument("--out", help="descriptions file (JSONL; appended to when resuming)")
    p.add_argument("--backend", help=describer_names())
    add_describer_options(p)
    p.add_argument("--workers", type=int, default=2, help="threads reading clips ahead of the model (default 2)")
    p.add_argument("--limit", type=int, help="describe at most this many new clips")
    p.add_argument("--shard", metavar="I/N", help="only shard I of N (I from 0), into OUT.shard-I-of-N.jsonl")
    p.add_argument("--merge", type=int, metavar="N", help="merge the N finished shards of --out into --out")
    p.add_argument("--refine", metavar="IN", help="refine the texts of a JSONL file instead of describing clips")
    p.add_argument("--field", help="text field of --refine's lines (default: raw, caption, text or description)")
    p.add_argument("--strict", action="store_true", help="also remove expressive actions (smile, frown, tears, ...)")
    p.add_argument("--lexicon", metavar="FILE", help="emotion lexicon (default: the package's)")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="the CLIP tokenizer folder of the model that will read the descriptions (model.tokenizer): "
                        "the summary then counts the descriptions longer than its 77 tokens")
    p.add_argument("--show-prompt", action="store_true",
                   help="print the prompt a video LLM would get (the default, or --prompt's) and exit")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def add_describer_options(p, skip: tuple[str, ...] = ()) -> None:
    """Every option some registered describer reads (but those in `skip`), with the describers reading it."""
    from finecliper.describe.backends import describer_options

    for option, users in describer_options():
        if option.flag not in skip:
            p.add_argument(option.flag, type=option.type, default=option.default, metavar=option.metavar,
                           help=f"{option.help} [{', '.join(users)}]")


def run(args) -> int:
    from finecliper.describe.refine import Refiner, load_lexicon

    if args.show_prompt:
        from finecliper.describe.prompt import load_prompt, show_prompt

        print(show_prompt(load_prompt(args.prompt)), end="")
        return 0
    if args.out is None:
        raise UserError("give --out FILE, the descriptions file to write")
    output_file(args.out)
    if args.merge is not None:
        return _merge(args)
    shard = _shard(args)
    refiner = Refiner(load_lexicon(args.lexicon), strict=args.strict)
    if args.refine is not None:
        if shard is not None:
            raise UserError("--shard splits the clips of a manifest; --refine reads a file: leave out --shard")
        if args.manifest is not None or args.backend is not None:
            raise UserError("--refine works on a JSONL file alone: leave out --manifest and --backend")
        from finecliper.describe.pipeline import refine_file

        summary = refine_file(args.refine, args.out, refiner, field=args.field)
        return _report(args, summary, f"refined {summary.written} texts from {args.refine} into {args.out}", "texts")

    from finecliper.data.manifest import read_manifest
    from finecliper.describe.backends import build_describer, describer_names, describer_options
    from finecliper.describe.options import check_values
    from finecliper.describe.pipeline import describe_manifest

    if args.manifest is None or args.backend is None:
        raise UserError(f"give --manifest and --backend ({describer_names()}), or --refine FILE")
    check_values([option for option, _ in describer_options()], vars(args))  # all of them, as before
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    clips = read_manifest(args.manifest, args.data_root)
    if not clips:
        raise UserError(f"manifest {args.manifest} lists no clips")
    too_long = _too_long(args.tokenizer)
    backend = build_describer(args.backend, vars(args), clips)
    summary = describe_manifest(clips, args.out, backend, refiner, limit=args.limit, workers=args.workers,
                                progress=False if args.no_progress else None, too_long=too_long, shard=shard)
    out = args.out if shard is None else shard.file(args.out)
    return _report(args, summary, f"described {summary.written} clips with {backend.name} into {out}")


def _shard(args):
    from finecliper.data.shards import Shard

    return None if args.shard is None else Shard.parse(args.shard)


def _merge(args) -> int:
    from finecliper.data.manifest import read_manifest
    from finecliper.describe.pipeline import merge_descriptions

    if args.backend is not None or args.refine is not None or args.shard is not None:
        raise UserError("--merge reads finished shards: give --manifest and --out only "
                        "(no --backend, --refine, --shard)")
    if args.manifest is None:
        raise UserError("--merge needs the manifest the shards were run on (--manifest), for the clips and their order")
    if args.merge < 1:
        raise UserError(f"--merge takes the number of shards (at least 1), got {args.merge}")
    summary = merge_descriptions(read_manifest(args.manifest, args.data_root), args.out, args.merge)
    return _report(args, summary, f"merged {summary.written} descriptions of {args.merge} shards into {args.out}")


def _too_long(folder: str | None):
    """A counter of the texts over CLIP's context for the tokenizer in `folder`, or None without one."""
    if folder is None:
        return None
    from finecliper.describe.pipeline import CLIP_CONTEXT
    from finecliper.model.tokenizer import count_too_long, load_tokenizer

    tokenizer = load_tokenizer(folder)
    return lambda texts: count_too_long(tokenizer, texts, CLIP_CONTEXT)


def _coverage_line(stats: dict) -> str:
    line = (f"{stats['clips']} clips, {stats['without_description']} ({stats['without_description_share']:.1%}) "
            "without a description (the model reads their video alone)")
    if stats["truncated"] is None:
        return line + "; pass --tokenizer DIR to count the descriptions longer than CLIP's 77 tokens"
    return (line + f", {stats['truncated']} ({stats['truncated_share']:.1%}) descriptions longer than "
            f"{stats['context_length']} tokens (cut)")


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
            f"{len(summary.skipped)} skipped (nothing to describe)" if summary.skipped else None,
            f"{len(summary.failed)} failed" if summary.failed else None,
        ]
        print("; ".join(p for p in parts if p))
        for split, stats in summary.splits.items():
            print(f"  {split}: {_coverage_line(stats)}")
        for failure in summary.failure_lines():
            print(f"  failed: {failure}")
    return 1 if summary.failed else 0
