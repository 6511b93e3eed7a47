"""Decoding split files: UTF-8 when the bytes are UTF-8, else GBK (MAFW's captioned files).

GB18030 is the superset of GBK that decodes every GBK file; trying UTF-8 first keeps a file that a user
re-saved as UTF-8 readable. Any line ending (CRLF included) is handled by `splitlines()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from finecliper.errors import UserError


def read_text(path: Path) -> str:
    """A split file's text, the UTF-8 byte-order mark dropped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read split file {path} ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise UserError(f"split file {path} is neither UTF-8 nor GBK text") from None


def nonempty_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) for every line of the file that holds more than white space."""
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            yield lineno, line
