"""Read knowledge-base files into entries, reporting every bad row with its file, line and reason.

Tabular files (CSV, TSV) and JSON/JSONL hold entries field by field (DESIGN.md "Contracts");
Markdown and plain text are documents, chunked into entries. A row that cannot be read is
reported and skipped; the good rows are kept. A file that is not what its name says (binary
data in a .csv, a JSON file that does not parse) is refused whole with a `ImportFileError`.

    >>> result = read_file(Path("faq.csv"))
    >>> result.entries, result.errors
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from knowledge_base.entries import Entry, EntryError

MAX_FILE_BYTES = 50 * 1024 * 1024
# Documents are cut into chunks of about this many characters, on paragraph boundaries, so one
# entry stays small enough to quote in a prompt.
CHUNK_CHARS = 1200


class ImportFileError(ValueError):
    """The whole file was refused; the message says why."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportResult:
    entries: list[Entry] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _read_text(path: Path) -> str:
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


def _entry_from_fields(fields: dict[str, Any], default_id: str) -> Entry:
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
        alternates=_split_list(fields.get("alternates"), "|"),
        category=str(fields.get("category") or ""),
        language=str(fields.get("language") or ""),
        tags=_split_list(fields.get("tags"), ","),
        url=str(fields.get("url") or ""),
    ).validate()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "entry"


def _read_tabular(path: Path, delimiter: str) -> ImportResult:
    text = _read_text(path)
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = {"question", "answer"} - set(header)
    if missing:
        raise ImportFileError(
            f"{path}: the header must name the columns 'question' and 'answer' "
            f"(missing: {', '.join(sorted(missing))}; found: {', '.join(header) or 'nothing'})"
        )
    reader.fieldnames = header
    stem = _slug(path.stem)
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                result.errors.append(RowError(str(path), line, f"{len(row[None]) + len(header)} columns, the header has {len(header)}"))
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue  # blank lines are not errors
            try:
                result.entries.append(_entry_from_fields(row, f"{stem}-{line}"))
            except EntryError as exc:
                result.errors.append(RowError(str(path), line, str(exc)))
    except csv.Error as exc:
        result.errors.append(RowError(str(path), reader.line_num, f"unreadable CSV: {exc}"))
    return result


def _read_json(path: Path) -> ImportResult:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise ImportFileError(f"{path}: expected a JSON list of entry objects")
    # JSON has no per-item line numbers after parsing, so the item's position (1-based) stands in.
    return _objects_to_entries(path, [(i + 1, item) for i, item in enumerate(data)], "item")


def _read_jsonl(path: Path) -> ImportResult:
    text = _read_text(path)
    items: list[tuple[int, Any]] = []
    result = ImportResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            result.errors.append(RowError(str(path), number, f"not valid JSON: {exc.msg}"))
    if items == [] and result.errors:
        raise ImportFileError(f"{path}: no line is valid JSON; is this a JSONL file?")
    parsed = _objects_to_entries(path, items, "line")
    parsed.errors = sorted(result.errors + parsed.errors, key=lambda e: e.line)
    return parsed


def _objects_to_entries(path: Path, items: list[tuple[int, Any]], unit: str) -> ImportResult:
    result = ImportResult()
    stem = _slug(path.stem)
    for number, item in items:
        if not isinstance(item, dict):
            result.errors.append(RowError(str(path), number, f"{unit} is not an object"))
            continue
        try:
            result.entries.append(_entry_from_fields(item, f"{stem}-{number}"))
        except EntryError as exc:
            result.errors.append(RowError(str(path), number, str(exc)))
    return result


def _chunks(paragraphs: list[str], limit: int = CHUNK_CHARS) -> list[str]:
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        if current and len(current) + len(para) + 2 > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        chunks.append(current)
    return chunks


def _document_entries(path: Path, sections: list[tuple[str, str]]) -> ImportResult:
    """Turn (title, body) sections into entries; the body text is also a phrasing, so a
    customer's question finds the chunk by its content, not only by its heading."""
    result = ImportResult()
    stem = _slug(path.stem)
    counter = 0
    for title, body in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        for chunk in _chunks(paragraphs):
            counter += 1
            question = title or chunk.split("\n", 1)[0][:200]
            try:
                result.entries.append(Entry(
                    id=f"{stem}-{counter}", question=question, answer=chunk,
                    alternates=[" ".join(chunk.split())[:1000]], category=path.stem,
                ).validate())
            except EntryError as exc:
                result.errors.append(RowError(str(path), counter, str(exc)))
    return result


def _read_markdown(path: Path) -> ImportResult:
    text = _read_text(path)
    sections: list[tuple[str, str]] = []
    title, body = "", []
    for line in text.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*\S)\s*#*\s*$", line)
        if heading:
            if "".join(body).strip():
                sections.append((title, "\n".join(body)))
            title, body = heading.group(1).strip(), []
        else:
            body.append(line)
    if "".join(body).strip():
        sections.append((title, "\n".join(body)))
    return _document_entries(path, sections)


def _read_txt(path: Path) -> ImportResult:
    return _document_entries(path, [("", _read_text(path))])


READERS: dict[str, Callable[[Path], ImportResult]] = {
    ".csv": lambda p: _read_tabular(p, ","),
    ".tsv": lambda p: _read_tabular(p, "\t"),
    ".json": _read_json,
    ".jsonl": _read_jsonl,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".txt": _read_txt,
}


def read_file(path: Path) -> ImportResult:
    """Read one knowledge-base file by its extension; raise `ImportFileError` if it is refused."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ImportFileError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; "
            f"supported: {', '.join(sorted(READERS))}"
        )
    return reader(path)
