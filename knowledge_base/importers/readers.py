"""Read knowledge-base files into entries: the reader is chosen by the file's extension.

One module per format: `tabular` (CSV, TSV), `spreadsheet` (XLSX), `json_entries` (JSON, JSONL),
`text` (Markdown, TXT), `pdf_documents` (PDF), `word_documents` (DOCX), `html_documents` (HTML);
what they share (errors, row validation) is in `base`, the checks that a binary file is what its
name says in `sniffing`. Every bad row is reported with its
file, line and reason and skipped; the good rows are kept.

    >>> result = read_file(Path("faq.csv"))
    >>> result.entries, result.errors
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from knowledge_base.importers.base import ImportFileError, ImportResult
from knowledge_base.importers.html_documents import read_html
from knowledge_base.importers.json_entries import read_json, read_jsonl
from knowledge_base.importers.pdf_documents import read_pdf
from knowledge_base.importers.spreadsheet import read_xlsx
from knowledge_base.importers.tabular import read_tabular
from knowledge_base.importers.text import read_markdown, read_txt
from knowledge_base.importers.word_documents import read_docx

READERS: dict[str, Callable[[Path], ImportResult]] = {
    ".csv": lambda p: read_tabular(p, ","),
    ".tsv": lambda p: read_tabular(p, "\t"),
    ".json": read_json,
    ".jsonl": read_jsonl,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_txt,
    ".xlsx": read_xlsx,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
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
