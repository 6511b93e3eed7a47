"""Sharded offline pipelines: `describe` and `cues` with --shard I/N, and `describe --merge N`.

The shards of a manifest together hold every clip exactly once, each shard writes only its own files, and the
merged descriptions file equals the file of one unsharded run, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from builders import described_clips, moving
from finecliper.cli import main
from finecliper.cues.extract import CueSettings
from finecliper.cues.pipeline import run_cues
from finecliper.data.manifest import ClipRecord, write_manifest
from finecliper.data.shards import Shard, all_shards
from finecliper.errors import UserError
from media import astronaut, numbered_frames, write_frames
from tiny_mllm import build_video_llava


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 12])
def test_shards_are_disjoint_and_cover_every_clip_once(count):
    ids = [f"c{i:03d}" for i in range(11)]
    picked = [clip for shard in all_shards(count) for clip in shard.select(ids)]
    assert sorted(picked) == ids  # every clip once, none twice
    sizes = [len(shard.select(ids)) for shard in all_shards(count)]
    assert max(sizes) - min(sizes) <= 1


def test_shard_names_and_files():
    shard = Shard.parse("1/4")
    assert shard == Shard(1, 4) and shard.tag == "shard-1-of-4"
    assert shard.file("out/d.jsonl") == Path("out/d.shard-1-of-4.jsonl")
    assert Shard.parse(" 0 / 1 ") == Shard(0, 1)


BAD_SHARDS = [
    ("2/2", "--shard 2/2: the shard index counts from 0 to 1 (as torchrun's RANK does)"),
    ("-1/2", "--shard -1/2: the shard index counts from 0 to 1 (as torchrun's RANK does)"),
    ("0/0", "--shard needs at least one shard, got 0/0"),
    ("1", "--shard takes I/N (shard I of N, I from 0), got '1'"),
    ("a/b", "--shard takes I/N (shard I of N, I from 0), got 'a/b'"),
    ("1/2/3", "--shard takes I/N (shard I of N, I from 0), got '1/2/3'"),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Seven clips with frames, a landmark track each in a cue store, and their manifest."""
    return described_clips(tmp_path_factory.mktemp("clips"), 7)


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("value,message", BAD_SHARDS)
@pytest.mark.parametrize("command", ["describe", "cues"])
def test_bad_shard_values_are_one_sentence_before_any_work(command, value, message, generated, tmp_path, capsys):
    _, store, manifest = generated
    out = tmp_path / ("d.jsonl" if command == "describe" else "store")
    extra = ["--backend", "landmarks", "--cues", str(store)] if command == "describe" else []
    assert main([command, "--manifest", str(manifest), "--out", str(out), *extra, f"--shard={value}"]) == 2
    assert _error(capsys) == f"finecliper {command}: error: {message}"
    assert list(tmp_path.iterdir()) == []  # nothing written


def _landmarks(manifest, store, out, *extra) -> list[str]:
    return ["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "landmarks", "--cues",
            str(store), "--batch-size", "2", "--no-progress", *extra]


def test_landmark_shards_merge_into_the_unsharded_file(generated, tmp_path, capsys):
    records, store, manifest = generated
    whole = tmp_path / "whole.jsonl"
    assert main(_landmarks(manifest, store, whole)) == 0
    out = tmp_path / "d.jsonl"
    for shard in ("0/2", "1/2"):
        assert main(_landmarks(manifest, store, out, "--shard", shard)) == 0
    shard_ids = [[json.loads(line)["id"] for line in Shard(i, 2).file(out).read_text().splitlines()] for i in (0, 1)]
    assert shard_ids == [[r.id for r in records[0::2]], [r.id for r in records[1::2]]]
    assert not out.exists()  # shards never touch the final file
    capsys.readouterr()
    assert main(["describe", "--merge", "2", "--manifest", str(manifest), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == len(records) and summary["failed"] == 0
    assert out.read_bytes() == whole.read_bytes()


def test_merge_refuses_missing_unfinished_foreign_or_mixed_shards(generated, tmp_path, capsys):
    records, store, manifest = generated
    out = tmp_path / "d.jsonl"
    merge = ["describe", "--merge", "2", "--manifest", str(manifest), "--out", str(out)]
    assert main(_landmarks(manifest, store, out, "--shard", "0/2")) == 0
    assert main(merge) == 2
    assert _error(capsys).endswith(f"shard 1/2 has no file {Shard(1, 2).file(out)}; run `finecliper describe` "
                                   "with --shard 1/2 again (it resumes)")
    assert main(_landmarks(manifest, store, out, "--shard", "1/2", "--limit", "1")) == 0  # cut short
    assert main(merge) == 2
    assert "shard 1/2 has not finished" in _error(capsys)
    assert main(_landmarks(manifest, store, out, "--shard", "1/2")) == 0  # resumes and finishes
    fewer = tmp_path / "fewer.jsonl"
    write_manifest(fewer, records[:5])  # another manifest: its shard 1 has other clips
    assert main([*merge[:4], str(fewer), *merge[5:]]) == 2
    assert "was written for another manifest or shard count" in _error(capsys)
    assert main(["describe", "--merge", "3", "--manifest", str(manifest), "--out", str(out)]) == 2
    assert "shard 0/3 has no file" in _error(capsys)
    assert not out.exists()
    assert main(merge) == 0
    assert main(merge) == 2  # never overwrites a file that exists
    assert "already exists" in _error(capsys)


def test_merge_refuses_shards_made_with_other_settings(generated, tmp_path, capsys):
    _, store, manifest = generated
    out = tmp_path / "d.jsonl"
    assert main(_landmarks(manifest, store, out, "--shard", "0/2")) == 0
    assert main(_landmarks(manifest, store, out, "--shard", "1/2", "--strict")) == 0
    assert main(["describe", "--merge", "2", "--manifest", str(manifest), "--out", str(out)]) == 2
    assert "shard 1/2 was described with another refiner" in _error(capsys)


@pytest.mark.parametrize("args,message", [
    (["--merge", "2", "--backend", "landmarks"], "--merge reads finished shards: give --manifest and --out only"),
    (["--merge", "0"], "--merge takes the number of shards (at least 1), got 0"),
])
def test_bad_merge_requests(args, message, generated, tmp_path, capsys):
    _, _, manifest = generated
    assert main(["describe", "--manifest", str(manifest), "--out", str(tmp_path / "d.jsonl"), *args]) == 2
    assert message in _error(capsys)


def test_refine_and_preview_take_no_shard(generated, tmp_path, capsys):
    _, _, manifest = generated
    assert main(["describe", "--refine", str(manifest), "--out", str(tmp_path / "r.jsonl"), "--shard", "0/2"]) == 2
    assert "leave out --shard" in _error(capsys)
    assert main(["cues", "--manifest", str(manifest), "--out", str(tmp_path / "s"), "--shard", "0/2",
                 "--preview", "00000"]) == 2
    assert "leave out --shard" in _error(capsys)


def test_video_llm_shards_merge_into_the_unsharded_file(tmp_path, capsys):
    weights = build_video_llava(tmp_path / "model")
    clips = []
    for i in range(5):
        write_frames(tmp_path / f"faces/{i}", numbered_frames(6, size=48, seed=i))
        clips.append(ClipRecord(id=f"{i:05d}", path=f"faces/{i}", label="neutral", num_frames=6, split="test",
                                fold=1, dataset="mafw", source="faces", root=str(tmp_path)))
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, clips)

    def describe(out, *extra):
        return main(["describe", "--manifest", str(manifest), "--out", str(out), "--backend", "video-llava",
                     "--weights", str(weights), "--max-new-tokens", "5", "--device", "cpu", "--no-progress", *extra])

    assert describe(tmp_path / "whole.jsonl") == 0
    out = tmp_path / "d.jsonl"
    assert describe(out, "--shard", "1/2", "--batch-size", "2") == 0
    assert describe(out, "--shard", "0/2", "--batch-size", "3") == 0
    assert main(["describe", "--merge", "2", "--manifest", str(manifest), "--out", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_cue_shards_share_one_store(tmp_path):
    clips = []
    for i in range(4):  # 224 px face crops of a face drifting a little, as the datasets' crops
        frames = moving(astronaut(), 3 + i % 2, (224, 224), (1.4, 1.6), (-203, -60), (-260, -90))[0]
        write_frames(tmp_path / f"clip{i}", frames)
        clips.append(ClipRecord(id=f"clip{i}", path=f"clip{i}", label="happiness", num_frames=3 + i % 2,
                                split="test", fold=1, dataset="csv", source="faces", root=str(tmp_path)))
    whole = run_cues(clips, tmp_path / "whole", CueSettings(), progress=False)
    assert whole.done == 4 and not whole.failed
    store = tmp_path / "sharded"
    done = [run_cues(clips, store, CueSettings(), progress=False, shard=Shard(i, 2)).done for i in (0, 1)]
    assert done == [2, 2]
    assert sorted(p.name for p in store.glob("*.json")) == [
        "provenance.json", "summary.shard-0-of-2.json", "summary.shard-1-of-2.json"]
    for i in range(4):
        with np.load(tmp_path / "whole" / f"clip{i}.npz") as a, np.load(store / f"clip{i}.npz") as b:
            assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    check = run_cues(clips, store, CueSettings(), progress=False)  # a last unsharded run finds nothing to do
    assert check.skipped == 4 and check.done == 0


def test_shard_errors_are_user_errors():
    with pytest.raises(UserError):
        all_shards(0)
