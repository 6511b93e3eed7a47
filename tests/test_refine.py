"""The refiner: the paper's examples of leaks, MAFW's real captions, the lexicon file, refine-only runs."""

from __future__ import annotations

import json
import re
from functools import lru_cache

import pytest

from finecliper.cli import main
from finecliper.data.descriptions import read_records
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.datasets import DATASETS
from finecliper.datasets.records import SplitFile
from finecliper.describe.refine import Refiner, default_lexicon, load_lexicon, parse_lexicon
from finecliper.errors import UserError
from shared_data import SPLITS

MAFW_CAPTIONS = SPLITS / "MAFW" / "Train & Test Set" / "single" / "with_caption" / "set_1"


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    return Refiner()


@lru_cache(maxsize=2)
def _checker(strict: bool):
    entries = default_lexicon().entries(strict)
    words = {e for e in entries if " " not in e and "'" not in e and not e.endswith("*")}
    stems = tuple(e[:-1] for e in entries if e.endswith("*"))
    phrases = [e for e in entries if " " in e or "'" in e]
    pattern = re.compile("|".join(r"(?<![a-z])" + re.escape(p).replace(r"\ ", r"\s+") + r"(?![a-z])" for p in phrases))
    return words, stems, pattern


def _words_in_lexicon(text: str, strict: bool = False) -> list[str]:
    """Lexicon check independent of the refiner's regexes: words by token, stems by prefix, phrases by search;
    the [keep] phrases ("the deflated mouth") are movements, not leaks."""
    words, stems, phrases = _checker(strict)
    text = re.sub(r"\s*['’]\s*", "'", text.lower())  # MAFW writes "can' t"
    for phrase in default_lexicon().keep:
        text = re.sub(r"(?<![a-z])" + r"\s+".join(phrase.split()) + r"(?![a-z])", " ", text)
    tokens = re.findall(r"[a-z]+(?:'[a-z]+)?", text)
    found = [t for t in tokens if t in words or t.startswith(stems)]
    return found + [m.group(0) for m in phrases.finditer(text)]


@pytest.mark.parametrize(
    "text, kept, gone",
    [
        (
            "The woman's mouth corners rise and her eyes crinkle, indicating a sense of joy or amusement.",
            "The woman's mouth corners rise and her eyes crinkle.",
            "indicating a sense of joy or amusement",
        ),
        (
            "His eyebrows lift and his mouth falls open, which conveys a sense of surprise and curiosity.",
            "His eyebrows lift and his mouth falls open.",
            "conveys a sense of surprise",
        ),
        (
            "The man raises his eyebrows and displays a surprised expression, with his mouth slightly open.",
            "The man raises his eyebrows, with his mouth slightly open.",
            "displays a surprised expression",
        ),
        (
            "She displays a surprised expression. Her lips part and she blinks twice.",
            "Her lips part and she blinks twice.",
            "She displays a surprised expression",
        ),
    ],
)
def test_paper_leaks_are_removed_and_movements_kept(refiner, text, kept, gone):
    result = refiner.refine(text)
    assert result.text == kept
    assert any(gone in piece for piece in result.removed)
    assert not _words_in_lexicon(result.text)


@pytest.mark.parametrize(
    "text, expected",
    [
        # adverbs of feeling go alone
        ("A man speaks excitedly to the man in front of him. The deep frown.",
         "A man speaks to the man in front of him. The deep frown."),
        # idioms go as phrases
        ("A woman looks around in alarm, then shouts loudly. The wide eyes.",
         "A woman looks around, then shouts loudly. The wide eyes."),
        # prepositional phrases headed by an emotion word
        ("A woman with a dissatisfied face yells at the person in the distance. The deep frown.",
         "A woman yells at the person in the distance. The deep frown."),
        ("A woman eats a banana with a disgruntled expression on her face. The frown.",
         "A woman eats a banana. The frown."),
        # an emotion adjective before a person noun, with the article fixed
        ("An angry old man waves his arms.", "An old man waves his arms."),
        ("An angry man waves his arms.", "A man waves his arms."),
        # an emotion word right after a person noun, before the finite verb: the word goes, the sentence stays
        ("A man overwhelmed shakes his head. The frown.", "A man shakes his head. The frown."),
        ("The woman upset lowered her eyes.", "The woman lowered her eyes."),
        # ... but an -s form there is the main verb itself, and its clause goes
        ("The woman hates cats. The frown.", "The frown."),
        # the subject of a removed clause is kept for the predicate after it (MAFW writes "can' t")
        ("A woman can' t believe what is happening and keeps shaking her head. The raised eyebrows.",
         "A woman keeps shaking her head. The raised eyebrows."),
        ("A little girl, looking excited, says she will party all night.",
         "A little girl says she will party all night."),
        # what is left of a sentence that was only a lead-in goes too
        ("After hearing the voice, the man's expression becomes tense. The wide eyes.", "The wide eyes."),
        # sentences glued without a space ("him.A pout") are still separate sentences
        ("A man listens impatiently.A curl of the lips.", "A man listens. A curl of the lips."),
    ],
)
def test_rules(refiner, text, expected):
    assert refiner.refine(text).text == expected


def test_nothing_left_is_reported_not_kept(refiner):
    result = refiner.refine("The woman is surprised! She looks happy.")
    assert result.text is None
    assert result.removed == ["The woman is surprised", "She looks happy"]
    assert refiner.refine("").text is None and refiner.refine(None).text is None


def test_text_without_emotion_words_is_untouched(refiner):
    text = "  The lips part slightly;  the chin drops,and the gaze shifts left..  "
    assert refiner.refine(text).text == text
    assert refiner.refine(text).removed == []


@pytest.mark.parametrize(
    "text, expected",
    [
        # [PAPER] expressive actions go as a phrase or a clause; pure movement stays
        ("The mouth curves into a slight upturned mouth, relaxed eyebrows and a slight smile.",
         "The mouth curves into a slight upturned mouth, relaxed eyebrows."),
        ("The mouth corners rise and the eyes crinkle, indicating a sense of joy.",
         "The mouth corners rise and the eyes crinkle."),
        ("The man smiles and nods. The deep frown.", "The man nods. The deep frown."),
        ("A woman laughs while nodding. The closed eyes.", "A woman is nodding. The closed eyes."),
        # facial actions are never removed
        ("The brows are lowered and drawn together, the lip corners are pulled down and the eyes narrow. "
         "The mouth opens and the head shakes. The frown and a pout.", None),
        # full-width punctuation ends sentences and clauses (the example)
        ("A man frowns and shakes his head。He looks sad.", "A man frowns and shakes his head。"),
        ("A man laughs and nods，he looks happy。The raised lip corners.", "A man nods。The raised lip corners."),
        ("A woman speaks with a smile，then nods。The frown.", "A woman speaks，then nods。The frown."),
        # a coordinated adverb takes its "and" along
        ("A woman speaks loudly and excitedly, and points at her chest.",
         "A woman speaks loudly, and points at her chest."),
    ],
)
def test_paper_refinement(refiner, text, expected):
    result = refiner.refine(text)
    assert result.text == (text if expected is None else expected)
    assert not _words_in_lexicon(result.text)


def test_a_kept_phrase_that_starts_what_is_left_comes_back_capitalised(refiner):
    # [keep] phrases are masked while the rules run; one left at the start of a sentence is capitalised there.
    result = refiner.refine("He is angry; deflated lips and a frown.")
    assert result.text == "Deflated lips and a frown." and result.removed == ["He is angry"]
    # ... and, like any two-word movement ("Tight mouth."), it is no fragment to drop.
    assert refiner.refine("The man looks sad, deflated mouth.").text == "Deflated mouth."
    assert refiner.refine("The man looks sad, tight mouth.").text == "Tight mouth."


def test_strict_removes_behaviours_and_keeps_facial_actions():
    text = "The man sighs and nods. The deep frown and the pout."
    assert Refiner().refine(text).text == text  # breathing is what the paper's prompt asks about
    strict = Refiner(strict=True).refine(text)
    assert strict.text == "The man nods. The deep frown and the pout."
    assert not _words_in_lexicon(strict.text, strict=True)


# MAFW fold 1's real captions (the issue's before / after): clip -> refined text.
MAFW_CASES = {
    # "shocks his head" is MAFW's misspelling of "shakes": a movement, never a reason to drop the sentence
    "08850": "A man shocks his head slightly when he heard what the man said. The marked frown.",
    "08858": "A woman shocks her head left and right and exhaled a long breath. The slightly closed eyes.",
    # "the deflated mouth" is a mouth shape; the tears go with their phrase
    "00460": "A girl looks at her friend, very reluctantly, and finally waves goodbye. "
             "The marked frown and the deflated mouth.",
    # no fragment "A woman she rises up in resistance."
    "09320": "She rises up in resistance. The frown, the wide eyes and the open mouth.",
    # a participle after its noun goes alone, not with the whole sentence
    "20081": "A woman in front of a man nods her head frequently. The higher inner corners of eyebrows, the lower "
             "outer corners of eyebrows, the compressed lips, and a downward pull on the lip corners.",
    # a smile goes with its phrase; the full-width stop stays
    "05008": "A woman speaks to the man in front of her. The raised eyebrows 。",
}


@lru_cache(maxsize=1)
def _mafw_captions() -> dict[str, tuple[str, str]]:
    """clip id -> (class, English caption) of MAFW fold 1's captioned train and test files, read by the
    package's MAFW reader once for every test that needs them."""
    captions = {}
    for split in ("train", "test"):
        rows, _ = DATASETS.get("mafw").read_split_file(SplitFile(MAFW_CAPTIONS / f"{split}.txt", split, 1), "", True)
        captions.update({row.id: (row.raw_label, row.caption) for row in rows if row.caption})
    return captions


@pytest.mark.skipif(not MAFW_CAPTIONS.is_dir(), reason=f"MAFW split files are not in {SPLITS}")
@pytest.mark.parametrize("clip, expected", list(MAFW_CASES.items()))
def test_mafw_caption_before_after(refiner, clip, expected):
    _, caption = _mafw_captions()[clip]
    assert refiner.refine(caption).text == expected


def test_lexicon_file_errors(tmp_path):
    with pytest.raises(UserError, match="section"):
        parse_lexicon("happy\n", "x")
    with pytest.raises(UserError, match=r"unknown section \[feelings\]"):
        parse_lexicon("[feelings]\nhappy\n", "x")
    with pytest.raises(UserError, match="does not exist"):
        load_lexicon(tmp_path / "missing.txt")
    path = tmp_path / "lex.txt"
    path.write_text("# mine\n[emotion]\nblue, over the moon\n")
    custom = Refiner(load_lexicon(path))
    assert custom.refine("He feels blue and nods.").text == "He nods."
    assert custom.refine("She is happy.").text == "She is happy."


@pytest.mark.skipif(not MAFW_CAPTIONS.is_dir(), reason=f"MAFW split files are not in {SPLITS}")
def test_mafw_real_captions(refiner):
    rows = list(_mafw_captions().values())
    captions = [caption for _, caption in rows]
    assert len(captions) > 7000
    changed = emptied = 0
    results = [refiner.refine(caption) for caption in captions]  # each caption refined once, for every check
    for caption, result in zip(captions, results, strict=True):
        if _words_in_lexicon(caption):
            assert result.changed
        else:  # captions without an emotion word come back exactly as they were
            assert result.text == caption and not result.removed
        if result.changed:
            changed += 1
            emptied += result.text is None
        if result.text is not None:
            leaks = _words_in_lexicon(result.text)
            assert not leaks, (caption, result.text, leaks)
    print(f"\nMAFW fold 1 captions: {len(captions)}, changed by refinement: {changed}, emptied: {emptied}")
    # Regression bounds: a bit under half of MAFW's captions name or imply an emotion (expressive actions
    # included); almost none is nothing but that (their second sentence describes facial actions).
    assert 0.3 < changed / len(captions) < 0.6
    assert emptied / len(captions) < 0.01
    # The expressive actions of the label's class are gone, the movement words stay (scripts/refiner_counts.py
    # prints these figures; before this refiner, 52 % and 56 % of these captions still held them).
    leaks = (("happiness", r"\b(smil|laugh|grin)\w*"), ("sadness", r"\b(tear|cry|cries|cried|sob|weep|wept)"))
    for label, leak in leaks:
        refined = [r.text for (lab, _), r in zip(rows, results, strict=True) if lab == label and r.text]
        assert len(refined) > 1000 and not [t for t in refined if re.search(leak, t, re.IGNORECASE)]
    movement = re.compile(r"\b(frown|rais|open|narrow|shak|lower|droop|compress|wrinkl|pout)\w*", re.IGNORECASE)
    before = sum(len(movement.findall(c)) for c in captions)
    after = sum(len(movement.findall(r.text or "")) for r in results)
    assert after > 0.99 * before


def test_refine_only_cli_on_jsonl(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "raw": "The lips part, suggesting that he is surprised.", "backend": "video-llava", "model": "m"},
        {"id": "b", "raw": "He looks happy."},
        {"id": "c", "raw": ""},
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"id": "d", "raw": "unfin')
    out = tmp_path / "out.jsonl"
    assert main(["describe", "--refine", str(src), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 3 and summary["changed"] == 2 and summary["emptied"] == 1 and summary["empty"] == 1
    records = {r["id"]: r for r in read_records(out)}
    assert records["a"]["refined"] == "The lips part." and records["a"]["backend"] == "video-llava"
    assert records["b"]["refined"] is None and records["b"]["status"] == "emptied"
    assert records["c"]["status"] == "empty"


def test_refine_only_keeps_and_counts_no_face_records(tmp_path):
    from finecliper.describe.pipeline import refine_file

    src = tmp_path / "landmarks.jsonl"
    note = "a face was tracked in 1 of 9 frames, too few to see movement"
    lines = [
        {"id": "a", "raw": None, "refined": None, "status": "no-face", "note": note, "backend": "landmarks"},
        {"id": "b", "raw": "The brows rise.", "refined": "The brows rise.", "status": "ok", "backend": "landmarks"},
        {"id": "c", "raw": ""},
    ]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    summary = refine_file(src, out)
    assert summary.clips == 3 and summary.written == 3
    assert summary.no_face == 1 and summary.empty == 1 and summary.emptied == 0 and summary.changed == 0
    records = {r["id"]: r for r in read_records(out)}
    assert records["a"]["status"] == "no-face" and records["a"]["note"] == note and records["a"]["refined"] is None
    assert records["b"]["status"] == "ok" and records["c"]["status"] == "empty"


def test_captions_backend_on_a_manifest(tmp_path, capsys):
    def clip(i, caption):
        return ClipRecord(id=f"{i:05d}", path=f"clips/{i:05d}.mp4", label="anger", num_frames=10, split="train",
                          fold=1, dataset="mafw", source="video", root=str(tmp_path), caption=caption)

    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [
        clip(1, "A man speaks excitedly. The deep frown."),
        clip(2, "The woman turns her head. The wide eyes."),
        clip(3, None),
    ])
    out = tmp_path / "captions.jsonl"
    assert main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "captions",
                 "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 2 and summary["skipped"] == 1 and summary["changed"] == 1
    records = {r["id"]: r for r in read_records(out)}
    assert records["00001"]["refined"] == "A man speaks. The deep frown."
    assert records["00001"]["removed"] == ["excitedly"] and records["00001"]["model"] == "mafw-caption"
    assert records["00002"]["refined"] == records["00002"]["raw"]
    assert "00003" not in records
    # Per split: the clip without a caption has no description; without --tokenizer nothing is counted as cut.
    assert summary["splits"] == {"train": {"clips": 3, "without_description": 1, "without_description_share": 0.3333,
                                           "truncated": None, "truncated_share": None, "context_length": 77}}


def test_describe_counts_the_descriptions_clip_cuts(tmp_path, capsys):
    from finecliper.model.tokenizer import builtin_tokenizer

    tokenizer = tmp_path / "tokenizer"
    builtin_tokenizer().save_pretrained(tokenizer)  # byte-level: one token per character

    def clip(i, caption, split):
        return ClipRecord(id=f"{i:05d}", path=f"clips/{i:05d}.mp4", label="anger", num_frames=10, split=split,
                          fold=1, dataset="mafw", source="video", root=str(tmp_path), caption=caption)

    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [clip(1, "The lips part.", "train"), clip(2, "The brows rise. " * 10, "train"),
                              clip(3, "He is angry.", "test"), clip(4, "The jaw drops.", "test")])
    out = tmp_path / "captions.jsonl"
    args = ["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "captions", "--no-progress",
            "--tokenizer", str(tokenizer)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "train: 2 clips, 0 (0.0%) without a description" in printed and "1 (50.0%) descriptions longer" in printed
    assert "test: 2 clips, 1 (50.0%) without a description" in printed and "0 (0.0%) descriptions longer" in printed
    assert main(args[:-2] + ["--tokenizer", str(tmp_path / "none")]) == 2
    assert "tokenizer folder" in capsys.readouterr().err


def test_describe_usage_errors(tmp_path, capsys):
    assert main(["describe", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "give --manifest and --backend" in capsys.readouterr().err
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ClipRecord(id="1", path="x", label="anger", num_frames=3, split="train", fold=None,
                                         dataset="csv", source="frames", root=str(tmp_path))])
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "o.jsonl"),
                 "--backend", "gpt"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'gpt'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "o.jsonl"),
                 "--backend", "captions"]) == 2
    assert "no clip of the manifest has a caption" in capsys.readouterr().err
