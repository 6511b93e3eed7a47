"""The one JSONL reader behind manifests, descriptions files and clips.jsonl."""

import pytest

from finecliper.data.jsonl import read_jsonl
from finecliper.errors import UserError


@pytest.mark.parametrize("text, message", [
    (None, "manifest {path} does not exist"),
    ('{"id": 1}\nnot json\n', "{path}:2 is not valid JSON"),
    ('[1, 2]\n', "{path}:1 is not a JSON object"),
])
def test_bad_files_are_one_sentence_naming_the_line(tmp_path, text, message):
    path = tmp_path / "m.jsonl"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError) as err:
        list(read_jsonl(path, "manifest"))
    assert str(err.value) == message.format(path=path)


def test_blank_lines_are_skipped_and_an_unfinished_last_line_only_when_asked(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b"}\n{"id": "c"}')
    assert list(read_jsonl(path, "file")) == [(1, {"id": "a"}), (3, {"id": "b"}), (4, {"id": "c"})]
    assert list(read_jsonl(path, "file", complete_only=True)) == [(1, {"id": "a"}), (3, {"id": "b"})]
