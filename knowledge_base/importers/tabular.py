"""CSV and TSV files: a header row, then one entry per row (DESIGN.md "Contracts").

Columns `question` and `answer` are required; `id`, `alternates` (separated by `|`), `category`,
`language`, `tags` (separated by `,`) and `url` are optional. A row with the wrong number of cells
is reported with its line and skipped; so is one whose cell is over its field's limit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from knowledge_base.entries import Entry, EntryError
from knowledge_base.importers.base import (
    ALTERNATES_SEPARATOR,
    MAX_FILE_BYTES,
    TAGS_SEPARATOR,
    ImportFileError,
    ImportResult,
    RowError,
    entry_from_fields,
    read_text,
    slug,
)

# The columns an export writes, in this order.
COLUMNS = ["id", "question", "alternates", "answer", "category", "language", "tags", "url"]


def read_tabular(path: Path, delimiter: str) -> ImportResult:
    """Entries of a CSV (`delimiter` ",") or TSV ("\\t") file; `ImportFileError` without the
    required columns. A rejected row is reported at the line it starts on (a quoted cell may
    span lines), and reading goes on after it."""
    text = read_text(path)
    # The csv module refuses a cell over 131,072 characters and loses its place; a cell may be as
    # long as the file may be, and an over-long answer is then that row's error, named by
    # `Entry.validate`. The limit is process-wide, so it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
    result = ImportResult()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = normal_header(next(reader, []))
    check_header(path, header)
    stem = slug(path.stem)
    while True:
        start = reader.line_num + 1  # the line this row starts on
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.errors.append(RowError(str(path), start, f"unreadable CSV: {exc}"))
            continue
        # The default id keeps the line the row ends on, as ids always had: re-imports upsert.
        add_row(result, path, header, cells, start, f"{stem}-{reader.line_num}")
    return result


def normal_header(cells: Iterable[str]) -> list[str]:
    """A header row's column names as the readers match them (trimmed, lower case)."""
    return [cell.strip().lower() for cell in cells]


def check_header(path: Path, header: list[str]) -> None:
    """`ImportFileError` unless the header names the required columns."""
    missing = {"question", "answer"} - set(header)
    if missing:
        raise ImportFileError(
            f"{path}: the header must name the columns 'question' and 'answer' "
            f"(missing: {', '.join(sorted(missing))}; found: {', '.join(header) or 'nothing'})"
        )


def add_row(result: ImportResult, path: Path, header: list[str], cells: list[str], line: int,
            default_id: str) -> None:
    """One table row (CSV, TSV or a spreadsheet's) into `result`: an entry, or its error at `line`.
    A blank row is skipped silently; a row with more cells than the header is an error."""
    if all(not cell.strip() for cell in cells):
        return  # blank lines are not errors
    if len(cells) > len(header):
        result.errors.append(RowError(str(path), line, f"{len(cells)} columns, the header has {len(header)}"))
        return
    row = dict(zip(header, cells))  # a short row's missing cells are empty, as csv.DictReader has them
    try:
        result.entries.append(entry_from_fields(row, default_id))
    except EntryError as exc:
        result.errors.append(RowError(str(path), line, str(exc)))


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
