"""Is a binary document what its name says? Checks made before a library parses it.

A .pdf must start with the PDF signature; a .xlsx or .docx must be a ZIP archive holding the
part its format names (an Office file of the other kind, an old binary .xls/.doc, or a renamed
archive is refused); an .html file must not be binary. Sizes are bounded like the text formats'
(`MAX_FILE_BYTES`), and a ZIP also by what it unpacks to, so a small archive cannot expand into
gigabytes in memory.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from knowledge_base.importers.base import MAX_FILE_BYTES, ImportFileError

# What an Office file may unpack to: its XML is several times its compressed size, rarely more.
MAX_UNPACKED_BYTES = 4 * MAX_FILE_BYTES
# The signature of the old binary Office formats (.xls, .doc): a common misnaming.
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_bytes(path: Path) -> bytes:
    """The file's bytes; `ImportFileError` if it is over `MAX_FILE_BYTES` or empty."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImportFileError(f"{path}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
    if size == 0:
        raise ImportFileError(f"{path}: the file is empty")
    return path.read_bytes()


def require_pdf(path: Path, data: bytes) -> None:
    """`ImportFileError` unless `data` starts like a PDF (the signature may follow a little junk,
    as readers allow, within the first kilobyte)."""
    if b"%PDF-" not in data[:1024]:
        raise ImportFileError(f"{path}: not a PDF file (no %PDF- signature); {_guess(data)}")


def require_office_zip(path: Path, part: str, kind: str) -> None:
    """`ImportFileError` unless `path` is a ZIP archive holding `part` (e.g. "word/document.xml"
    for a DOCX) and unpacking to at most `MAX_UNPACKED_BYTES`."""
    with path.open("rb") as handle:
        data_head = handle.read(8)
    if not zipfile.is_zipfile(path):
        raise ImportFileError(f"{path}: not a {kind} file (not a ZIP archive); {_guess(data_head)}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFileError(f"{path}: not a {kind} file (a broken ZIP archive: {exc})") from None
    if part not in names:
        other = next((name for p, name in _PARTS.items() if p in names), "an archive of another kind")
        raise ImportFileError(f"{path}: not a {kind} file (it is {other}: no {part} inside)")
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            f"{path}: unpacks to {unpacked} bytes, over the {MAX_UNPACKED_BYTES} byte limit")


def require_text_markup(path: Path, data: bytes) -> None:
    """`ImportFileError` if an HTML file holds binary data (a NUL byte, or a known binary signature)."""
    if b"\x00" in data[:8192] or _guess(data[:8]) != "its content is unrecognised":
        raise ImportFileError(f"{path}: binary data, not an HTML text file; {_guess(data[:8])}")


# Which Office part names which format, to say what a misnamed archive really is.
_PARTS = {"word/document.xml": "a Word document (DOCX)", "xl/workbook.xml": "an Excel workbook (XLSX)",
          "ppt/presentation.xml": "a PowerPoint presentation (PPTX)"}


def _guess(data: bytes) -> str:
    """A few words on what the bytes look like, for the refusal message."""
    if data.startswith(b"%PDF-"):
        return "it looks like a PDF"
    if data.startswith(b"PK\x03\x04"):
        return "it looks like a ZIP archive"
    if data.startswith(_OLE_SIGNATURE):
        return "it looks like an old binary Office file (.xls/.doc): save it as .xlsx/.docx"
    if data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "it looks like an image"
    return "its content is unrecognised"
