"""The refiner: removes every word, phrase or clause of a description that names or implies an emotion.

[PAPER] FineCLIPER deletes what names or implies an emotion, inferences ("..., indicating a sense of joy")
and expressive actions ("and a slight smile") alike, and keeps pure movement ("slight upturned mouth,
relaxed eyebrows"), so that the description carries no label leak. [OURS] How: a lexicon shipped as data
(`emotion_lexicon.txt`: emotion words, expressive actions, word forms and the misspellings of MAFW's
captions, and phrases to keep that only look like a leak) and rules applied from the narrowest to the
widest, so that as much of the movement description as possible survives:

1. a parenthesis holding an emotion word goes whole;
2. idioms (`[phrase]`: "in alarm", "at a loss for words") go as phrases;
3. adverbs of feeling (`[manner]`: "excitedly") go as single words, with an intensifier before them;
4. prepositional phrases headed by an emotion word go ("with a dissatisfied face", "in surprise");
5. an emotion adjective before a person noun goes ("an angry man" -> "a man"), and so does a participle
   right after one before a phrase or a finite verb ("A woman crying in front of a man nods" -> "A woman in
   front of a man nods"; "A man overwhelmed shakes his head" -> "A man shakes his head");
6. anything left: the clause holding the word goes — clauses end at , ; : (and their full-width forms)
   and at connectives such as "and", "which", "indicating", "suggesting" — and a clause's subject is
   kept for a bare predicate after it ("The woman can't believe it and nods" -> "The woman nods"), never
   for a clause with a subject of its own.

Sentences end at . ! ? and at full-width 。！？ (MAFW's captions mix them). Facial actions (frown, brows
drawn together, lip corners pulled down, eyes narrowed, mouth open, head shaking) are in no section, so
they always stay; `--strict` also removes behaviours that hint at an emotion (sighs, gasps, trembling).

A sentence without a lexicon word is never touched, so a description without one comes back exactly
as it was. What is left of a changed sentence is tidied (spaces, commas, dangling "and", capital,
full stop); a remainder that is only a subject ("A woman.") is dropped as well. Every removed piece is
reported; when nothing is left the result is None, never the leaking text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from finecliper.errors import UserError
from finecliper.paths import existing_file

SECTIONS = ("emotion", "action", "manner", "phrase", "strict", "keep")
# Punctuation that ends a clause or a sentence, ASCII and full-width (MAFW's captions mix them).
_COMMAS = ",;:，；：、"
_ENDS = ".!?。！？"

# Words that may stand between a preposition and the emotion word it governs: determiners,
# intensifiers and "a look of"-style frames ("with a look of disbelief").
_MODIFIERS = (
    r"a|an|the|his|her|their|its|some|great|much|deep|obvious|visible|clear|slight|mild|evident|"
    r"apparent|utter|sheer|complete|total|genuine|mixed|growing|extreme|faint|forced|real|pure|"
    r"very|slightly|somewhat|rather|quite|obviously|visibly|clearly|evidently|apparently|a\s+bit\s+of|"
    r"a\s+little|a\s+look\s+of|an\s+air\s+of|a\s+sense\s+of|a\s+hint\s+of|a\s+touch\s+of|a\s+trace\s+of|"
    r"a\s+mix\s+of|a\s+mixture\s+of|an\s+expression\s+of|a\s+feeling\s+of|signs\s+of|a\s+sign\s+of"
)
# Nouns an emotion adjective commonly qualifies inside such a phrase ("with an excited face").
_PP_NOUNS = (
    r"look|looks|expression|expressions|face|tone|voice|manner|way|mood|attitude|air|smile|gaze|"
    r"glance|eyes|stare|demeanor|demeanour|feeling|feelings|emotion|emotions|heart|state"
)
# Words that may follow a phrase that ends on its emotion word: punctuation, end, or a new phrase.
_AFTER_PP = (
    r"and|but|or|while|as|then|before|after|when|with|at|to|in|on|for|from|toward|towards|because|so|"
    r"into|about|over|until|since|which|who"
)
# A word between the preposition and the emotion word that is not one of _MODIFIERS must not be one
# of these (they start a different phrase: "with him angry").
_NOT_FREE = r"him|them|me|us|it|you|front|order|and|or|but|to|of|on|at|for|from|that|this|which|who"
# Where an expressive action shows, closing its phrase: "with tears in her eyes", "tears down his cheeks".
_ON_THE_FACE = (
    r"(?:in|on|from|down|streaming\s+down|rolling\s+down|running\s+down)\s+(?:his|her|their|the|its)\s+"
    r"(?:eyes?|faces?|cheeks?)"
)
_INTENSIFIERS = r"very|so|rather|quite|somewhat|too|most|extremely|really|visibly|clearly|obviously|a\s+bit|a\s+little"
_PERSONS = (
    r"man|men|woman|women|girl|girls|boy|boys|person|people|lady|ladies|child|children|kid|kids|guy|"
    r"guys|gentleman|gentlemen|baby|teenager|youth|student|soldier|officer|mother|father|mom|dad|"
    r"husband|wife|son|daughter|brother|sister|friend|couple|host|player|speaker|patient|doctor|nurse|"
    r"policeman|subject|individual|figure"
)
_SUBJECT = (
    rf"(?:(?:(?:a|an|the|one|this|that|another|some)\s+)?(?:[a-z-]+\s+){{0,2}}?(?:{_PERSONS})"
    r"|he|she|they|someone|somebody)(?!['’\w-])"
)
# Words after which a participle that follows its person noun is a modifier, not the predicate.
_AFTER_PARTICIPLE = r"in|at|on|with|under|by|beside|next|near|behind|outside|inside|alone|quietly|softly|loudly"
# Words ending in -s or -ed that are not the finite verb a post-nominal emotion word may stand before ("A man
# overwhelmed shakes his head" -> "A man shakes his head"): pronouns, adverbs, prepositions.
_NOT_VERBS = (
    r"his|this|its|hers|theirs|yours|ours|us|yes|as|whereas|always|sometimes|perhaps|besides|towards|afterwards|"
    r"upwards|downwards|sideways|less|unless|across|plus|thus|various|serious|obvious|nervous|ed"
)
# Words that start a new clause (besides , ; : and a spaced dash). Longest first.
_CONNECTIVES = (
    r"and\s+then|but\s+then|as\s+if|as\s+though|so\s+that|and|but|while|whereas|then|which|who|whose|"
    r"as|because|since|although|though|yet|indicating|suggesting|showing|conveying|revealing|"
    r"expressing|signaling|signalling|implying|reflecting|displaying|demonstrating|hinting|betraying|"
    r"exuding|radiating|giving|possibly|perhaps|likely|probably|seemingly|apparently|looking|seeming|"
    r"appearing|feeling"
)
_CLAUSE_SEP = re.compile(
    rf"(?:\s*[{_COMMAS}]\s*|\s+[-–—]+\s+)(?:(?:{_CONNECTIVES})(?!\w)\s*)?|\s+(?:{_CONNECTIVES})(?!\w)\s*",
    re.IGNORECASE,
)
# Connectives after which the following clause is a bare predicate that can take the subject of a
# removed clause ("X can't believe it and nods" -> "X nods").
_COORDINATORS = {"and", "then", "and then", "but", "but then", "yet"}
# Connectives of a clause inserted between commas; removing it also removes the comma after it.
_INSERTIONS = {
    "", "who", "which", "whose", "looking", "seeming", "appearing", "feeling", "possibly", "perhaps",
    "likely", "probably", "seemingly", "apparently",
}
_PLURAL_SUBJECTS = {"men", "women", "girls", "boys", "people", "ladies", "children", "kids", "guys", "gentlemen", "they"}
# First words of a clause that cannot stand alone as a sentence (a lead-in or a dependent clause).
_DEPENDENT_STARTS = {
    "after", "before", "when", "whenever", "while", "as", "upon", "on", "once", "since", "until", "if",
    "because", "although", "though", "despite", "during", "in", "at", "for", "to", "being",
}
# Sentences end at . ! ? before a space or a new line, or directly before a capital ("him.A pout"), and
# at full-width 。！？ whatever follows ("his head。He looks").
_SENTENCE_SPLIT = re.compile(r"((?<=[.!?])\s+|\s*\n\s*|(?<=[a-z)][.!?])(?=[A-Z])|(?<=[。！？])\s*(?=\S))")
_SENTENCE_PARTS = re.compile(rf"^(\s*)(.*?)(\s*[{_ENDS}]+[\"'’)\]]*)?\s*$", re.DOTALL)
_PARENTHESIS = re.compile(r"\s*\([^()]*\)")
_DANGLING = re.compile(
    rf"(?:[\s{_COMMAS}]+(?:and|or|but|with|of|a|an|the|while|as|if|though|like|that|then|which|who|so|because|"
    rf"very))+[\s{_COMMAS}]*$",
    re.IGNORECASE,
)
_STRIP = " \t" + _COMMAS  # trimmed off the ends of a clause or a removed piece
_STOPWORDS = frozenset(
    "a an the and or but with of in on at to his her their its he she they it this that is are was "
    "were be being been then while as which who so very".split()
)


@dataclass(frozen=True)
class Lexicon:
    """Entries per section (see emotion_lexicon.txt for what each section means)."""

    emotion: tuple[str, ...]
    action: tuple[str, ...] = ()
    manner: tuple[str, ...] = ()
    phrase: tuple[str, ...] = ()
    strict: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()

    def heads(self, strict: bool = False) -> tuple[str, ...]:
        """The entries whose phrase or clause goes (with `strict`, the [strict] behaviours too)."""
        return self.emotion + self.action + (self.strict if strict else ())

    def entries(self, strict: bool = False) -> tuple[str, ...]:
        """Every entry that counts as a leak (with `strict`, the [strict] behaviours too); [keep] is not one."""
        return self.heads(strict) + self.manner + self.phrase

    def matcher(self, strict: bool = False) -> re.Pattern:
        """A pattern that finds any entry as a whole word or phrase."""
        return _compile_entries(self.entries(strict))


def parse_lexicon(text: str, source: str = "lexicon") -> Lexicon:
    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = header.group(1).lower()
            if current not in sections:
                raise UserError(f"{source}:{lineno}: unknown section [{current}] (known: {', '.join(SECTIONS)})")
            continue
        if current is None:
            raise UserError(f"{source}:{lineno}: entries must follow a section header such as [emotion]")
        for entry in line.split(","):
            entry = " ".join(entry.split()).lower()
            if not entry:
                continue
            if not re.fullmatch(r"[a-z'’ -]+\*?", entry):
                raise UserError(f"{source}:{lineno}: {entry!r} is not a word or phrase (letters, spaces, ' and -)")
            sections[current].append(entry)
    if not sections["emotion"]:
        raise UserError(f"{source} has no [emotion] entries")
    return Lexicon(**{name: tuple(dict.fromkeys(values)) for name, values in sections.items()})


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """The lexicon in `path`, or the one shipped with the package."""
    if path is None:
        return default_lexicon()
    path = existing_file(path, "lexicon file")
    return parse_lexicon(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    text = resources.files("finecliper.describe").joinpath("emotion_lexicon.txt").read_text(encoding="utf-8")
    return parse_lexicon(text, "emotion_lexicon.txt")


def _entry_regex(entry: str) -> str:
    stem = entry.endswith("*")
    words = entry.rstrip("*").split()
    # MAFW writes "can' t": an apostrophe may carry spaces on either side.
    body = r"\s+".join(re.sub(r"['’]", lambda _: r"\s*['’]\s*", re.escape(w)) for w in words)
    return body + (r"\w*" if stem else "")


def _alternation(entries) -> str:
    # Longest first: at one position the regex takes the first alternative that matches, and
    # "at a loss for words" must win over "at a loss".
    ordered = sorted(dict.fromkeys(entries), key=len, reverse=True)
    if not ordered:
        return r"(?!x)x"  # matches nothing
    return "(?:" + "|".join(_entry_regex(e) for e in ordered) + ")"


@lru_cache(maxsize=16)
def _compile_entries(entries: tuple[str, ...]) -> re.Pattern:
    return re.compile(rf"(?<![\w'’]){_alternation(entries)}(?![\w'’])", re.IGNORECASE)


@dataclass
class Refinement:
    text: str | None  # the refined description; None when nothing was left (or nothing was given)
    removed: list[str] = field(default_factory=list)  # the pieces taken out, in order

    @property
    def changed(self) -> bool:
        return bool(self.removed)


class Refiner:
    """Removes emotion words, phrases and clauses from descriptions (see the module docstring)."""

    def __init__(self, lexicon: Lexicon | None = None, strict: bool = False):
        self.lexicon = lexicon or default_lexicon()
        self.strict = strict
        lex = self.lexicon
        self._any = lex.matcher(strict)
        self._keep = _compile_entries(lex.keep) if lex.keep else None
        emo = _alternation(lex.heads(strict))
        w = r"(?<![\w'’])"  # word start
        self._phrase = re.compile(rf"[ \t]*{w}{_alternation(lex.phrase)}(?![\w'’])", re.IGNORECASE)
        # "speaks loudly and excitedly," loses "and excitedly": a coordinated adverb at a phrase's end takes
        # its "and" along.
        self._manner = re.compile(
            rf"(?:[ \t]+{w}(?:and|or)(?=[ \t]+(?:(?:{_INTENSIFIERS})[ \t]+)?{_alternation(lex.manner)}"
            rf"[ \t]*(?:[{_COMMAS}{_ENDS}]|$)))?"
            rf"(?:[ \t]+{w}(?:{_INTENSIFIERS}))?[ \t]*{w}{_alternation(lex.manner)}(?![\w'’])", re.IGNORECASE
        )
        emo_seq = (
            rf"(?:(?:{_MODIFIERS})\s+)*{emo}"
            rf"(?:\s*(?:,\s*|\s+)(?:(?:and|or)\s+)?(?:(?:{_MODIFIERS})\s+)*{emo})*"
        )
        # A noun after the emotion word closes the phrase ("with a dissatisfied face"); without one the
        # phrase must end at punctuation or a new phrase, so that "in shocked silence" is not cut to
        # "silence" (that clause goes whole instead).
        self._pp = re.compile(
            rf"[ \t]*{w}(?:with|in|out\s+of|full\s+of|filled\s+with)\s+(?:(?:{_MODIFIERS})\s+)*"
            rf"(?:(?!(?:{_NOT_FREE})(?!\w))[a-z]+\s+)?{emo_seq}"
            rf"(?:\s+(?:{_PP_NOUNS})(?:\s+on\s+(?:his|her|their|the|its)\s+faces?)?(?![\w'’])"
            rf"|\s+{_ON_THE_FACE}(?![\w'’])"
            rf"|(?=\s*(?:$|[{_COMMAS}{_ENDS})]|(?:{_AFTER_PP})(?!\w))))",
            re.IGNORECASE,
        )
        self._attributive = re.compile(
            rf"{w}(?P<det>a|an|the|one|this|that|another|his|her|their)\s+(?P<pre>[a-z]+\s+)??"
            rf"(?P<emo>{emo})\s+(?=(?:[a-z]+\s+)?(?:{_PERSONS})(?!\w))",
            re.IGNORECASE,
        )
        # A participle right after its person noun, before a phrase: "A woman crying in front of a man nods".
        self._participle = re.compile(
            rf"(?P<noun>{w}(?:{_PERSONS}))\s+(?P<emo>{emo})(?=\s+(?:{_AFTER_PARTICIPLE})(?!\w)"
            rf"|\s+(?P<verb>(?!(?:{_NOT_VERBS}|{emo})(?![\w'’]))[a-z]+(?:s|ed))(?![\w'’]))", re.IGNORECASE
        )
        self._subject = re.compile(rf"^\s*(?P<subject>{_SUBJECT})", re.IGNORECASE)
        self._subject_only = re.compile(rf"^\s*{_SUBJECT}\s*$", re.IGNORECASE)

    # -- public ---------------------------------------------------------------------------------
    def refine(self, text: str | None) -> Refinement:
        if text is None or not text.strip():
            return Refinement(None, [])
        kept_phrases: list[str] = []
        masked = self._mask_keep(text, kept_phrases)
        if not self._any.search(masked):
            return Refinement(text, [])
        result = self._refine_text(masked)
        return Refinement(_unmask(result.text, kept_phrases), [_unmask(r, kept_phrases) for r in result.removed])

    def _mask_keep(self, text: str, kept: list[str]) -> str:
        """`text` with each [keep] phrase replaced by placeholder words no rule matches (see `_unmask`)."""
        if self._keep is None:
            return text

        def mask(m: re.Match) -> str:
            kept.append(m.group(0))
            return _placeholder(len(kept) - 1, len(m.group(0).split()))

        return self._keep.sub(mask, text)

    def _refine_text(self, text: str) -> Refinement:
        removed: list[str] = []
        parts = _SENTENCE_SPLIT.split(text)  # [sentence, separator, sentence, ..., sentence]
        out = []
        for i in range(0, len(parts), 2):
            sentence = parts[i]
            separator = parts[i + 1] if i + 1 < len(parts) else ""
            if not self._any.search(sentence):
                out.append(sentence + separator)
                continue
            kept = self._refine_sentence(sentence, removed)
            if kept:  # a full-width stop needs no space after it ("头。He")
                out.append(kept + (separator or ("" if kept[-1] in "。！？" else " ")))
        result = "".join(out).strip()
        return Refinement(result or None, removed)

    # -- rules ----------------------------------------------------------------------------------
    def _refine_sentence(self, sentence: str, removed: list[str]) -> str:
        lead, body, end = _SENTENCE_PARTS.match(sentence).groups()
        end = (end or "").strip()
        body = self._remove(_PARENTHESIS, body, removed, only_if_leak=True)
        body = self._remove(self._phrase, body, removed)
        body = self._remove(self._manner, body, removed)
        body = self._remove(self._pp, body, removed)
        body = self._attributive.sub(lambda m: self._drop_adjective(m, removed), body)
        body = self._participle.sub(lambda m: self._drop_participle(m, removed), body)
        if self._any.search(body):
            body = self._drop_clauses(body, removed)
        body = _tidy(body)
        if not body or self._is_fragment(body) or self._any.search(body):
            if body:
                removed.append(body)
            return ""
        return lead + body + (end or ".")

    def _remove(self, pattern: re.Pattern, body: str, removed: list[str], only_if_leak: bool = False) -> str:
        def replace(m: re.Match) -> str:
            if only_if_leak and not self._any.search(m.group(0)):
                return m.group(0)
            removed.append(m.group(0).strip(_STRIP + "()"))
            return ""

        return pattern.sub(replace, body)

    def _drop_adjective(self, m: re.Match, removed: list[str]) -> str:
        removed.append(m.group("emo"))
        det, pre = m.group("det"), m.group("pre") or ""
        if pre and re.fullmatch(rf"(?:{_INTENSIFIERS})\s+", pre, re.IGNORECASE):
            removed[-1] = (pre + m.group("emo")).strip()
            pre = ""
        if det.lower() in ("a", "an"):
            following = (pre or m.string[m.end():]).lstrip()
            det = _article(det, following)
        return f"{det} {pre}"

    def _drop_participle(self, m: re.Match, removed: list[str]) -> str:
        # Before a phrase only an -ing form: "A woman cries in the rain" has its main verb there, and goes as a
        # clause. Before a finite verb, an adjective or -ed form too ("A man overwhelmed shakes"), never an -s
        # form, which is itself a verb ("The woman hates cats").
        emo = m.group("emo").lower()
        if not (emo.endswith("ing") or m.group("verb") and not emo.endswith("s")):
            return m.group(0)
        removed.append(m.group("emo"))
        return m.group("noun")

    def _drop_clauses(self, body: str, removed: list[str]) -> str:
        # clauses: (separator, text); the separator (", which", " and") belongs to the clause after it.
        clauses = []
        start, sep = 0, ""
        for m in _CLAUSE_SEP.finditer(body):
            if m.start() == 0 and not clauses and start == 0:
                sep = m.group(0)
                start = m.end()
                continue
            clauses.append([sep, body[start:m.start()]])
            sep, start = m.group(0), m.end()
        clauses.append([sep, body[start:]])

        kept: list[list[str]] = []
        carried = None  # (separator, subject) of a removed clause, for the bare predicate after it
        inserted = False  # the removed clause was an insertion between commas (", looking excited,")
        for sep, text in clauses:
            connective = _connective(sep)
            if self._any.search(sep + text):
                removed.append((sep + text).strip(_STRIP))
                subject = self._subject.match(text)
                if subject and not self._any.search(subject.group("subject")):
                    carried = (sep, subject.group("subject").strip())
                inserted = sep.lstrip()[:1] in (",", "，") and connective in _INSERTIONS
                continue
            if carried is not None and connective in _COORDINATORS and not self._subject.match(text):
                sep, text = carried[0], carried[1] + " " + text.lstrip()
            elif carried is not None and connective in ("", "while") and _starts_with_participle(text):
                # "A man shares a funny thing, covering his mouth" -> "A man is covering his mouth"
                verb = "are" if carried[1].split()[-1].lower() in _PLURAL_SUBJECTS else "is"
                sep, text = carried[0], f"{carried[1]} {verb} {text.lstrip()}"
            elif inserted and sep.strip() in (",", "，"):
                sep = " "  # "A girl, looking excited, says" -> "A girl says"
            carried, inserted = None, False
            kept.append([sep, text])
        if not kept or all(_is_dependent(text) for _, text in kept):
            # Nothing is left, or only the lead-in of a removed main clause ("After hearing the news").
            if kept:
                removed.append("".join(sep + text for sep, text in kept).strip(_STRIP))
            return ""
        kept[0][0] = ""  # the sentence starts here: whatever connective led into this clause goes
        return "".join(sep + text for sep, text in kept)

    def _is_fragment(self, body: str) -> bool:
        words = re.findall(r"[A-Za-z'’]+", body)
        if len(words) < 2 or all(w.lower() in _STOPWORDS for w in words):
            return True
        return self._subject_only.match(body) is not None


def _connective(sep: str) -> str:
    return " ".join(re.sub(rf"[{_COMMAS}]", " ", sep).split()).lower()


def _placeholder(index: int, words: int) -> str:
    """Words of letters only (the rules read words as letters) that no lexicon entry or rule matches, as many
    as the phrase has: the fragment check counts words, and "deflated mouth" is no one-word fragment."""
    return " ".join(["zqkeep" + "".join(chr(ord("a") + int(d)) for d in str(index)) + "zq"] * words)


def _unmask(text: str | None, kept: list[str]) -> str | None:
    """`text` with the placeholders of `_mask_keep` replaced by the phrases they stand for; a placeholder that
    `_tidy` capitalised (it starts what is left of a sentence) gives its phrase a capital."""

    def phrase(m: re.Match) -> str:
        original = kept[int("".join(str(ord(c) - 97) for c in m.group(2)))]
        return original[:1].upper() + original[1:] if m.group(1) == "Z" else original

    if text is None or not kept:
        return text
    return re.sub(r"([zZ])qkeep([a-j]+)zq(?:\s+zqkeep\2zq)*", phrase, text)


def _starts_with_participle(clause: str) -> bool:
    words = clause.split()
    return bool(words) and words[0].lower().endswith("ing") and len(words[0]) > 4


def _is_dependent(clause: str) -> bool:
    words = clause.split()
    if not words:
        return True
    first = words[0].lower().strip(",;:")
    return first in _DEPENDENT_STARTS or first.endswith("ing") or "being" in (w.lower() for w in words)


def _article(det: str, following: str) -> str:
    vowel = following[:1].lower() in "aeiou" and following[:1] != ""
    word = "an" if vowel else "a"
    return word.capitalize() if det[:1].isupper() else word


def _tidy(body: str) -> str:
    body = re.sub(r"\s+", " ", body)
    body = re.sub(rf"\s+([{_COMMAS}])", r"\1", body)
    body = re.sub(rf"([{_COMMAS}])(?:\s*[{_COMMAS}])+", r"\1", body)
    body = re.sub(r"\(\s*\)", "", body)
    body = body.strip(_STRIP)
    body = _DANGLING.sub("", body).strip(_STRIP)
    if body[:1].islower():
        body = body[0].upper() + body[1:]
    return body
