"""DOCX documents: paragraphs in Heading 1-3 (or Title) styles start sections, everything else
(paragraphs, and table rows as "cell | cell") is their text, chunked like Markdown
(`text.document_entries`). A file that is not a Word document (not a ZIP, an XLSX renamed, an old
.doc) is refused with `ImportFileError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from knowledge_base.importers.base import ImportFileError, ImportResult
from knowledge_base.importers.sniffing import read_bytes, require_office_zip
from knowledge_base.importers.text import document_entries, split_long

# The styles that cut sections ("Heading 4" and below stay in their section's text).
_HEADING_STYLE = re.compile(r"^(heading [123]|title)$", re.IGNORECASE)


def _style_name(paragraph: Any) -> str:
    try:
        return paragraph.style.name or ""
    except (KeyError, AttributeError, ValueError):  # a style the document names but does not define
        return ""


def _blocks(document: Any) -> list[tuple[bool, str]]:
    """(is_heading, text) of the body's paragraphs and table rows, in document order."""
    from docx.table import Table  # imported here: importing knowledge_base stays light

    blocks: list[tuple[bool, str]] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                # a merged cell repeats in every column it spans: keep it once
                unique = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
                if unique:
                    blocks.append((False, " | ".join(unique)))
        elif item.text.strip():
            blocks.append((bool(_HEADING_STYLE.match(_style_name(item))), item.text.strip()))
    return blocks


def read_docx(path: Path) -> ImportResult:
    """Entries of a Word document, one or more per heading section."""
    read_bytes(path)  # the size limits
    require_office_zip(path, "word/document.xml", "DOCX")
    import docx  # python-docx

    try:
        blocks = _blocks(docx.Document(str(path)))
    except Exception as exc:  # python-docx/lxml raise many kinds for a damaged file; all mean "refused"
        raise ImportFileError(f"{path}: not a readable DOCX document ({type(exc).__name__}: {exc})") from None
    if not blocks:
        raise ImportFileError(f"{path}: the document holds no text")
    sections: list[tuple[str, list[str]]] = [("", [])]
    for heading, text in blocks:
        if heading:
            sections.append((" ".join(text.split()), []))
        else:
            sections[-1][1].extend(split_long(text))
    return document_entries(path, [(title, "\n\n".join(paras)) for title, paras in sections if paras])
