"""CLIP tokenizers: from a user's folder (checked), from OpenAI's BPE file, or the built-in byte-level one.

CLIP's vocabulary is: the 256 byte symbols, the same symbols with the end-of-word mark `</w>`, one
token per BPE merge, then `<|startoftext|>` and `<|endoftext|>`. OpenAI ships only the merges
(`bpe_simple_vocab_16e6.txt.gz`); Hugging Face folders ship `vocab.json` + `merges.txt` or
`tokenizer.json`. With no merges at all the same construction gives a 514-token byte-level tokenizer:
what random-weight models (tests, parameter counts) use, so nothing is downloaded. The synthetic demo
learns merges of its own (`finecliper.demo.vocabulary`) and builds its tokenizer with `tokenizer_from_merges`.

A folder with no vocabulary makes `CLIPTokenizer` silently fall back to a 2-token vocabulary; here the
size is always checked against the text tower's, and a mismatch is an error.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from functools import lru_cache
from pathlib import Path

from finecliper.errors import UserError
from finecliper.paths import existing_folder

# transformers is imported inside the functions that need it: importing it takes a second or more, and
# importing this package (for the architectures, PN sentences, counts) should not pay for it.

OPENAI_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
# OpenAI's SimpleTokenizer uses the first 49152 - 256 - 2 merges of its file.
OPENAI_NUM_MERGES = 49152 - 256 - 2
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode symbols (CLIP's BPE alphabet), as transformers has it."""
    # transformers takes seconds to import: model/ loads it on first use (as backbone.py does).
    from transformers.convert_slow_tokenizer import bytes_to_unicode as transformers_bytes_to_unicode

    return transformers_bytes_to_unicode()


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's token-to-id map for a list of BPE merges."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    return {tok: i for i, tok in enumerate(tokens)}


def tokenizer_from_merges(merges: list[tuple[str, str]]):
    """A CLIPTokenizer whose vocabulary is `clip_vocab(merges)`."""
    from transformers import CLIPTokenizer

    # Written to files and read back: the one constructor that every supported transformers version has.
    with tempfile.TemporaryDirectory(prefix="finecliper-tok-") as tmp:
        Path(tmp, "vocab.json").write_text(json.dumps(clip_vocab(merges)), encoding="utf-8")
        lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
        Path(tmp, "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return CLIPTokenizer.from_pretrained(tmp, local_files_only=True)


@lru_cache(maxsize=1)
def builtin_tokenizer():
    """The 514-token byte-level CLIP tokenizer (no merges), for random-weight models."""
    return tokenizer_from_merges([])


def _read_openai_merges(path: Path) -> list[tuple[str, str]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = [line for line in fh.read().split("\n") if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable OpenAI BPE file ({exc})") from None
    merges = [tuple(line.split()) for line in lines[1 : OPENAI_NUM_MERGES + 1]]
    if any(len(m) != 2 for m in merges):
        raise UserError(f"{path} is not an OpenAI BPE merges file")
    return merges  # type: ignore[return-value]


def count_too_long(tokenizer, texts: list[str], context_length: int) -> int:
    """How many of `texts` take more than `context_length` tokens (start and end of text included): those the
    text tower cuts (docs/design.md §3)."""
    if not texts:
        return 0
    ids = tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
    return sum(len(one) > context_length for one in ids)


def load_tokenizer(folder: str | Path, vocab_size: int | None = None):
    """The CLIP tokenizer in `folder`, checked to have exactly `vocab_size` tokens (when given).

    The folder holds a Hugging Face tokenizer (`vocab.json` + `merges.txt`, or `tokenizer.json`) or
    OpenAI's `bpe_simple_vocab_16e6.txt.gz`.
    """
    folder = existing_folder(folder, "tokenizer folder")
    has_hf = (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )
    if has_hf:
        from transformers import CLIPTokenizer

        try:
            tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as exc:  # corrupt JSON, wrong tokenizer class, ...: one sentence for the user
            raise UserError(f"cannot read the CLIP tokenizer in {folder}: {exc}") from None
    elif (folder / OPENAI_BPE_FILE).is_file():
        tokenizer = tokenizer_from_merges(_read_openai_merges(folder / OPENAI_BPE_FILE))
    else:
        raise UserError(
            f"{folder} has no tokenizer vocabulary (vocab.json + merges.txt, tokenizer.json or "
            f"{OPENAI_BPE_FILE}); give a folder that has one with model.tokenizer=DIR"
        )
    if vocab_size is not None and len(tokenizer) != vocab_size:
        raise UserError(
            f"the tokenizer in {folder} has {len(tokenizer)} tokens but the text tower expects {vocab_size}; "
            "it belongs to a different model or its vocabulary files are incomplete"
        )
    return tokenizer
