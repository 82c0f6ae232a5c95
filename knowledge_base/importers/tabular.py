"""CSV and TSV files: a header row, then one entry per row (DESIGN.md "Contracts").

Columns `question` and `answer` are required; `id`, `alternates` (separated by `|`), `category`,
`language`, `tags` (separated by `,`) and `url` are optional. A row with the wrong number of cells
is reported with its line and skipped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from knowledge_base.entries import Entry, EntryError
from knowledge_base.importers.base import (ALTERNATES_SEPARATOR, TAGS_SEPARATOR, ImportFileError, ImportResult,
                                           RowError, entry_from_fields, read_text, slug)

# The columns an export writes, in this order.
COLUMNS = ["id", "question", "alternates", "answer", "category", "language", "tags", "url"]


def read_tabular(path: Path, delimiter: str) -> ImportResult:
    """Entries of a CSV (`delimiter` ",") or TSV ("\\t") file; `ImportFileError` without the
    required columns."""
    text = read_text(path)
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
    stem = slug(path.stem)
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                result.errors.append(RowError(str(path), line, f"{len(row[None]) + len(header)} columns, the header has {len(header)}"))
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue  # blank lines are not errors
            try:
                result.entries.append(entry_from_fields(row, f"{stem}-{line}"))
            except EntryError as exc:
                result.errors.append(RowError(str(path), line, str(exc)))
    except csv.Error as exc:
        result.errors.append(RowError(str(path), reader.line_num, f"unreadable CSV: {exc}"))
    return result


def write_tabular(path: Path, entries: Iterable[Entry], delimiter: str) -> int:
    """Write `entries` as a CSV or TSV file that `read_tabular` reads back; returns how many."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter=delimiter)
        writer.writeheader()
        for entry in entries:
            row = entry.to_dict()
            writer.writerow({**row, "alternates": ALTERNATES_SEPARATOR.join(row["alternates"]),
                             "tags": TAGS_SEPARATOR.join(row["tags"])})
            count += 1
    return count
