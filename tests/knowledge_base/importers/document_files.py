"""Builders of real XLSX, DOCX, HTML and PDF files for the importer tests and the import bench.

XLSX and DOCX are written by the libraries the importers read them with; a PDF is written by hand
(a few objects and an xref table: the smallest valid PDF with text a reader can extract), since
pypdf does not lay out text and no PDF writer is a dependency.
"""

from __future__ import annotations

from pathlib import Path


def write_xlsx(path: Path, rows: list[list[object]], sheets_before: int = 0) -> Path:
    """A workbook whose sheet (after `sheets_before` sheets without a header) holds `rows`."""
    import openpyxl

    workbook = openpyxl.Workbook()
    first = workbook.active
    for number in range(sheets_before):
        sheet = first if number == 0 else workbook.create_sheet(f"Notes {number}")
        sheet.title = f"Notes {number}"
        sheet.append(["Read me first"])
    sheet = workbook.create_sheet("FAQ") if sheets_before else first
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_docx(path: Path, blocks: list[tuple[str, str]]) -> Path:
    """A Word document of (style, text) blocks: style "h1".."h4" for headings, "p" for body text,
    "table" for a row of cells separated by "|"."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style.startswith("h"):
            document.add_heading(text, level=int(style[1]))
        elif style == "table":
            cells = text.split("|")
            table = document.add_table(rows=1, cols=len(cells))
            for cell, value in zip(table.rows[0].cells, cells):
                cell.text = value
        else:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A PDF of `pages`, each a list of lines (Helvetica 11pt, ASCII text; "" is a blank line)."""
    objects: list[str] = []
    page_ids = [3 + 2 * n for n in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    objects.append("<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {len(pages)} >>")
    for page_id, lines in zip(page_ids, pages):
        body = "BT /F1 11 Tf 14 TL 50 760 Td " + " ".join(f"{_pdf_string(line)} Tj T*" for line in lines) + " ET"
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {page_id + 1} 0 R >>")
        objects.append(f"<< /Length {len(body.encode('latin-1'))} >>\nstream\n{body}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    path.write_bytes(pdf_bytes(pages))
    return path
