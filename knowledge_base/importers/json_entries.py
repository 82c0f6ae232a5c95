"""JSON and JSONL files: objects with the fields of a tabular row (DESIGN.md "Contracts").

A JSON file holds a list of objects (or `{"entries": [...]}`), a JSONL file one object per line;
lists may be JSON lists or separated strings as in a CSV cell. What parses but is no entry
file (NaN, a number of thousands of digits, nesting hundreds deep) is refused with a message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from knowledge_base.entries import Entry, EntryError, kind_of
from knowledge_base.importers.base import ImportFileError, ImportResult, RowError, entry_from_fields, read_text, slug


# Entry objects hold lists of text at most: a file nested deeper than this is not an entry file
# (and Python's parser would overflow its stack on a few thousand levels).
MAX_JSON_DEPTH = 64
# Longer numbers are no entry's id or field; Python refuses to convert over 4,300 digits anyway.
MAX_NUMBER_DIGITS = 100


class JSONContentError(ValueError):
    """JSON that parses but that no entry file holds (a NaN, a huge number, deep nesting)."""


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise JSONContentError(f"a number of {len(digits.lstrip('-'))} digits (the limit is {MAX_NUMBER_DIGITS})")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONContentError(f"the number {text[:20]}, too large to be one")
    return value


def _parse_constant(name: str) -> float:
    raise JSONContentError(f"{name}, which is not a number in JSON")


def _nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(text: str) -> Any:
    """`text` parsed as JSON, or `JSONContentError` for what no entry file holds: NaN or
    Infinity, a number over `MAX_NUMBER_DIGITS` digits or too large for a float, lists and
    objects nested over `MAX_JSON_DEPTH` levels; `json.JSONDecodeError` if it does not parse."""
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:  # the parser recursed deeper than Python's stack allows
        raise JSONContentError(f"lists or objects nested over {MAX_JSON_DEPTH} levels deep") from None
    if _nesting_depth(data) > MAX_JSON_DEPTH:
        raise JSONContentError(f"lists or objects nested over {MAX_JSON_DEPTH} levels deep")
    return data


def read_json(path: Path) -> ImportResult:
    """Entries of a JSON file; `ImportFileError` if it does not parse, holds what no entry file
    holds (`parse_json`) or holds no list."""
    text = read_text(path)
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except JSONContentError as exc:
        raise ImportFileError(f"{path}: not a knowledge-base file: it holds {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("entries"), list):
        data = data["entries"]
    if not isinstance(data, list):
        raise ImportFileError(f"{path}: expected a JSON list of entry objects (or {{\"entries\": [...]}}), "
                              f"found {kind_of(data)}")
    # JSON has no per-item line numbers after parsing, so the item's position (1-based) stands in.
    return _objects_to_entries(path, [(i + 1, item) for i, item in enumerate(data)], "item")


def read_jsonl(path: Path) -> ImportResult:
    """Entries of a JSONL file; a line that does not parse (or holds what no entry holds) is a
    row error, all of them a refusal."""
    text = read_text(path)
    items: list[tuple[int, Any]] = []
    result = ImportResult()
    # Lines end at "\n" only: JSON strings may hold U+2028, U+2029 or U+0085 raw, which
    # str.splitlines() would also split at.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, parse_json(line)))
        except json.JSONDecodeError as exc:
            result.errors.append(RowError(str(path), number, f"not valid JSON: {exc.msg}"))
        except JSONContentError as exc:
            result.errors.append(RowError(str(path), number, f"not an entry: the line holds {exc}"))
    if items == [] and result.errors and all(e.reason.startswith("not valid JSON") for e in result.errors):
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
