"""What every importer shares: the typed errors, the result of reading a file, reading its text
safely, and turning one row's fields into a validated `Entry` (DESIGN.md "Contracts").

A row that cannot be read is reported (`RowError`: file, line, reason) and skipped; a file that is
not what its name says (binary data in a .csv, a JSON file that does not parse) is refused whole
with an `ImportFileError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge_base.entries import Entry, EntryError

MAX_FILE_BYTES = 50 * 1024 * 1024
# How lists travel in one text field (a CSV cell, or a JSON string instead of a list).
ALTERNATES_SEPARATOR = "|"
TAGS_SEPARATOR = ","


class ImportFileError(ValueError):
    """The whole file was refused; the message says why."""


@dataclass(frozen=True)
class RowError:
    """One row that was skipped: its file, line (or item number) and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportResult:
    """The entries read from one file and the rows rejected."""

    entries: list[Entry] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a BOM dropped); `ImportFileError` if it is too big, binary or not UTF-8."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImportFileError(f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ImportFileError(f"{path}: binary data, not a {path.suffix.lstrip('.').upper()} text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 and try again"
        ) from None


def _split_list(value: Any, separator: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(separator) if part.strip()]


def entry_from_fields(fields: dict[str, Any], default_id: str) -> Entry:
    """A validated entry from one row's fields (`default_id` when it names none); raises
    `EntryError` saying what is wrong. Lists may be lists or separated strings."""
    question = fields.get("question")
    answer = fields.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise EntryError("missing question")
    if not isinstance(answer, str) or not answer.strip():
        raise EntryError("missing answer")
    entry_id = str(fields.get("id") or "").strip() or default_id
    return Entry(
        id=entry_id,
        question=question,
        answer=answer,
        alternates=_split_list(fields.get("alternates"), ALTERNATES_SEPARATOR),
        category=str(fields.get("category") or ""),
        language=str(fields.get("language") or ""),
        tags=_split_list(fields.get("tags"), TAGS_SEPARATOR),
        url=str(fields.get("url") or ""),
    ).validate()


def slug(text: str) -> str:
    """A file name as the stem of default entry ids ("Shop FAQ" -> "shop-faq")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "entry"
