"""Write entries to a file that `read_file` reads back: CSV, TSV, JSON, JSONL or XLSX by extension.

    >>> write_entries(Path("kb.csv"), repository.list_entries())
    42
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from knowledge_base.entries import Entry
from knowledge_base.importers.json_entries import write_json, write_jsonl
from knowledge_base.importers.spreadsheet import write_xlsx
from knowledge_base.importers.tabular import write_tabular

WRITERS: dict[str, Callable[[Path, Iterable[Entry]], int]] = {
    ".csv": lambda path, entries: write_tabular(path, entries, ","),
    ".tsv": lambda path, entries: write_tabular(path, entries, "\t"),
    ".json": write_json,
    ".jsonl": write_jsonl,
    ".xlsx": write_xlsx,
}


class ExportFormatError(ValueError):
    """The file's extension names no format entries can be exported to; the message lists them."""


def write_entries(path: Path, entries: Iterable[Entry]) -> int:
    """Write `entries` to `path` in the format its extension names; returns how many were
    written. Raises `ExportFormatError` (before writing anything) for another extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    writer = WRITERS.get(suffix)
    if writer is None:
        raise ExportFormatError(f"cannot export to {suffix or 'a file without extension'}; "
                                "use .csv, .tsv, .json, .jsonl or .xlsx")
    return writer(path, entries)
