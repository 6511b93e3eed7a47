"""The demo CLIP's tokenizer: BPE merges learned from the demo's own texts, in CLIP's vocabulary layout.

Real CLIP reads text through 49k BPE merges learned on web text; the demo's small CLIP gets merges
learned the same way (Sennrich et al.'s algorithm: repeatedly merge the most frequent adjacent pair of
symbols within words) from the texts it will read: the phrases and sentences of its pretraining and
the landmark descriptions of the training clips. Their vocabulary is small, so every word of it ends up
one token and a description is ~50 tokens instead of ~200 bytes. Words are split exactly as the
tokenizer itself splits them (the byte-level tokenizer's output, grouped at its end-of-word marks), so
the merges apply to the same symbols at tokenization time. When the texts run out of pairs to merge,
unused pairs of single symbols fill the list, because the text tower's vocabulary size is fixed by the
architecture (`arch/small.json`) and the loader checks it.
"""

from __future__ import annotations

from collections import Counter

from finecliper.errors import UserError
from finecliper.model.tokenizer import builtin_tokenizer, bytes_to_unicode, tokenizer_from_merges

END = "</w>"


def _words(texts: list[str]) -> Counter:
    """Each word as its tuple of byte symbols (the last one with the end-of-word mark), with its count."""
    base = builtin_tokenizer()
    # The tokenizer splits at white space first, so each distinct chunk is tokenized once.
    chunks = Counter(chunk for text in texts for chunk in text.split())
    words: Counter = Counter()
    for chunk, n in chunks.items():
        word: list[str] = []
        for token in base.tokenize(chunk):
            word.append(token)
            if token.endswith(END):
                words[tuple(word)] += n
                word = []
    return words


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def learn_merges(texts: list[str], count: int) -> list[tuple[str, str]]:
    """Exactly `count` BPE merges: learned from `texts` (most frequent pair first, ties by the pair),
    then filled with unused pairs of single symbols."""
    words = _words(texts)
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        pairs: Counter = Counter()
        for symbols, n in words.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += n
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        words = Counter({_merge(symbols, best): n for symbols, n in words.items()})
    alphabet = list(bytes_to_unicode().values())
    taken = set(alphabet) | {s + END for s in alphabet} | {a + b for a, b in merges}
    filler = ((a, b) for a in alphabet for b in alphabet)
    while len(merges) < count:
        a, b = next(filler)
        if a + b not in taken:  # a token may appear only once in the vocabulary
            merges.append((a, b))
            taken.add(a + b)
    return merges


def demo_tokenizer(texts: list[str], vocab_size: int):
    """A CLIPTokenizer of exactly `vocab_size` tokens with merges learned from `texts`."""
    count = vocab_size - 2 * 256 - 2  # bytes, bytes at word ends, and the two special tokens
    if count < 0:
        raise UserError(f"a CLIP vocabulary needs at least 514 tokens, the architecture has {vocab_size}")
    tokenizer = tokenizer_from_merges(learn_merges(texts, count))
    if len(tokenizer) != vocab_size:
        raise RuntimeError(f"the demo tokenizer has {len(tokenizer)} tokens instead of {vocab_size}")
    return tokenizer
