"""What every importer shares: the typed errors, the result of reading a file, reading its text
safely, and turning one row's fields into a validated `Entry` (DESIGN.md "Contracts").

A row that cannot be read is reported (`RowError`: file, line, reason) and skipped; a file that is
not what its name says (binary data in a .csv, a JSON file that does not parse) is refused whole
with an `ImportFileError`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge_base.entries import Entry, EntryError, kind_of

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


def _scalar(name: str, value: Any) -> str:
    """A one-text field as read: text as it is, a number as its digits (a JSON `"category": 2024`),
    nothing as ""; `EntryError` for true/false, a list or an object."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise EntryError(f"{name} must be text, not {kind_of(value)}")


def _split_list(name: str, value: Any, separator: str) -> list[str]:
    """A list field: a JSON list (each item text or a number) or one separated text."""
    if isinstance(value, (list, tuple)):
        items = [_scalar(f"{name} item {number}", item) for number, item in enumerate(value, start=1)]
        return [item.strip() for item in items if item.strip()]
    return [part.strip() for part in _scalar(name, value).split(separator) if part.strip()]


def entry_from_fields(fields: dict[str, Any], default_id: str) -> Entry:
    """A validated entry from one row's fields (`default_id` when it names none); raises
    `EntryError` saying what is wrong. Lists may be lists or separated strings; a number where
    text belongs is taken as its digits, anything else that is not text is refused."""
    question = fields.get("question")
    answer = fields.get("answer")
    if question is None or isinstance(question, str) and not question.strip():
        raise EntryError("missing question")
    if answer is None or isinstance(answer, str) and not answer.strip():
        raise EntryError("missing answer")
    for name, value in (("question", question), ("answer", answer)):
        if not isinstance(value, str):
            raise EntryError(f"{name} must be text, not {kind_of(value)}")
    entry_id = _scalar("id", fields.get("id")).strip() or default_id
    return Entry(
        id=entry_id,
        question=question,
        answer=answer,
        alternates=_split_list("alternates", fields.get("alternates"), ALTERNATES_SEPARATOR),
        category=_scalar("category", fields.get("category")),
        language=_scalar("language", fields.get("language")),
        tags=_split_list("tags", fields.get("tags"), TAGS_SEPARATOR),
        url=_scalar("url", fields.get("url")),
    ).validate()


def slug(text: str) -> str:
    """A file name as the stem of default entry ids ("Shop FAQ" -> "shop-faq").

    An ASCII name gives the same slug as it always did (re-imports must upsert the same ids).
    Other letters vanish from a slug ("中文" and "日本語" would both give "entry"), so a name
    that is not ASCII also gets a short hash of itself: distinct names, distinct ids, the same
    on every import ("中文" -> "entry-72726d88"). The name is NFC-normalised first, so a file
    name spelled in decomposed form (as macOS stores it) gives the same ids.
    """
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "entry"
    if text.isascii():
        return base
    name = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
    return f"{base}-{hashlib.sha256(name).hexdigest()[:8]}"
