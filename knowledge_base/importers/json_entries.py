"""JSON and JSONL files: objects with the fields of a tabular row (DESIGN.md "Contracts").

A JSON file holds a list of objects (or `{"entries": [...]}`), a JSONL file one object per line;
lists may be JSON lists or separated strings as in a CSV cell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from knowledge_base.entries import Entry, EntryError
from knowledge_base.importers.base import ImportFileError, ImportResult, RowError, entry_from_fields, read_text, slug


def read_json(path: Path) -> ImportResult:
    """Entries of a JSON file; `ImportFileError` if it does not parse or holds no list."""
    text = read_text(path)
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


def read_jsonl(path: Path) -> ImportResult:
    """Entries of a JSONL file; a line that does not parse is a row error, all of them a refusal."""
    text = read_text(path)
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
    stem = slug(path.stem)
    for number, item in items:
        if not isinstance(item, dict):
            result.errors.append(RowError(str(path), number, f"{unit} is not an object"))
            continue
        try:
            result.entries.append(entry_from_fields(item, f"{stem}-{number}"))
        except EntryError as exc:
            result.errors.append(RowError(str(path), number, str(exc)))
    return result


def write_json(path: Path, entries: Iterable[Entry]) -> int:
    """Write `entries` as one JSON list that `read_json` reads back; returns how many."""
    rows = [entry.to_dict() for entry in entries]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    return len(rows)


def write_jsonl(path: Path, entries: Iterable[Entry]) -> int:
    """Write `entries` one JSON object a line, as `read_jsonl` reads them; returns how many."""
    rows = [json.dumps(entry.to_dict(), ensure_ascii=False) + "\n" for entry in entries]
    path.write_text("".join(rows), encoding="utf-8")
    return len(rows)
