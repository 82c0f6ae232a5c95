"""XLSX workbooks: the first sheet whose first row is a header naming `question` and `answer`,
then one entry per row, with the same columns and row checks as CSV (`tabular`).

A bad row is reported with the file, the sheet's row number and the reason; a file that is not
an XLSX workbook (not a ZIP, a DOCX renamed, an old .xls) is refused with `ImportFileError`.
`write_xlsx` writes the workbook `read_xlsx` reads back (the export's XLSX).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from knowledge_base.entries import Entry
from knowledge_base.importers.base import ALTERNATES_SEPARATOR, TAGS_SEPARATOR, ImportFileError, ImportResult, slug
from knowledge_base.importers.sniffing import read_bytes, require_office_zip
from knowledge_base.importers.tabular import COLUMNS, add_row, check_header, normal_header


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV export of it would hold: numbers as digits (7.0 as "7"), dates
    in ISO form, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def read_xlsx(path: Path) -> ImportResult:
    """Entries of an XLSX workbook's first sheet with a `question`/`answer` header row."""
    read_bytes(path)  # the size limits
    require_office_zip(path, "xl/workbook.xml", "XLSX")
    import openpyxl  # imported here: importing knowledge_base stays light

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook; all mean "refused"
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    try:
        return _read_sheets(path, workbook)
    except ImportFileError:
        raise
    except Exception as exc:  # a damaged sheet part shows up only while its rows stream
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    finally:
        workbook.close()  # read-only workbooks keep the archive open until closed


def _read_sheets(path: Path, workbook: Any) -> ImportResult:
    first_header: list[str] = []
    for sheet in workbook.worksheets:
        rows = sheet.iter_rows(min_row=1, values_only=True)
        header = normal_header(_cell_text(value) for value in next(rows, ()))
        while header and not header[-1]:
            header.pop()  # trailing empty header cells: a sheet's used range is often wider
        if not {"question", "answer"} <= set(header):
            first_header = first_header or header
            continue
        result = ImportResult()
        stem = slug(path.stem)
        for number, values in enumerate(rows, start=2):
            cells = [_cell_text(value) for value in values]
            while len(cells) > len(header) and not cells[-1].strip():
                cells.pop()  # empty cells right of the header are no extra columns
            add_row(result, path, header, cells, number, f"{stem}-{number}")
        return result
    check_header(path, first_header)  # no sheet names both columns: says what the first one has
    raise AssertionError("unreachable: check_header raised")


def write_xlsx(path: Path, entries: Iterable[Entry]) -> int:
    """Write `entries` as a one-sheet workbook (the CSV export's columns) that `read_xlsx` reads
    back; returns how many. Every cell is text: an answer that starts with "=" stays text, never
    a formula a spreadsheet would run; control characters XLSX cannot hold are left out."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("FAQ")

    def text_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
        return cell

    sheet.append([text_cell(column) for column in COLUMNS])
    count = 0
    for entry in entries:
        row = entry.to_dict()
        row = {**row, "alternates": ALTERNATES_SEPARATOR.join(row["alternates"]), "tags": TAGS_SEPARATOR.join(row["tags"])}
        sheet.append([text_cell(row[column]) for column in COLUMNS])
        count += 1
    workbook.save(path)
    return count
