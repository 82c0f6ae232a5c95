"""PDF documents: the text of each page, cut into sections at headings where they can be
recognised (a numbered line such as "2.1 Refunds", or a short line in capitals), then chunked
like Markdown (`text.document_entries`). Text before any heading on a page is a section named
"<file> p. N". A file that is not a PDF, is damaged, password-protected or holds no text (a scan)
is refused with `ImportFileError`.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowledge_base.importers.base import ImportFileError, ImportResult
from knowledge_base.importers.sniffing import read_bytes, require_pdf
from knowledge_base.importers.text import document_entries, split_long

MAX_PAGES = 5000
# A heading line: numbered ("3", "2.1", "IV.", "Chapter 2") and not ending like a sentence, or
# all capitals; at most this long.
MAX_HEADING_CHARS = 80
_NUMBERED = re.compile(r"^(\d+(\.\d+)*\.?|[IVX]+\.|(chapter|section|part)\s+\d+[.:]?)\s+\S", re.IGNORECASE)


def is_heading(line: str) -> bool:
    """Whether an extracted line looks like a section heading."""
    line = line.strip()
    if not line or len(line) > MAX_HEADING_CHARS or line[-1] in ".,;:!?" or not re.search(r"[^\W\d_]", line):
        return False
    if _NUMBERED.match(line):
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters if c.isascii())


def _page_texts(path: Path) -> list[str]:
    """The text of each page; `ImportFileError` for anything that is no readable PDF."""
    data = read_bytes(path)
    require_pdf(path, data)
    from pypdf import PdfReader  # imported here: importing knowledge_base stays light

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ImportFileError(f"{path}: the PDF is password-protected; remove the password and try again")
        if len(reader.pages) > MAX_PAGES:
            raise ImportFileError(f"{path}: {len(reader.pages)} pages is over the {MAX_PAGES} page limit")
        return [page.extract_text() or "" for page in reader.pages]
    except ImportFileError:
        raise
    except Exception as exc:  # pypdf raises many kinds for a damaged file; each means "refused"
        raise ImportFileError(f"{path}: a damaged PDF that cannot be read ({type(exc).__name__}: {exc})") from None


def read_pdf(path: Path) -> ImportResult:
    """Entries of a PDF document, chunked by recognised headings, pages and size."""
    pages = _page_texts(path)
    if not any(text.strip() for text in pages):
        raise ImportFileError(f"{path}: the PDF holds no text (a scan needs OCR first)")
    sections: list[tuple[str, list[str]]] = []  # (title, paragraphs)
    page_titled = False  # whether the open section is named after its page, not a heading
    for number, text in enumerate(pages, start=1):
        if not sections or page_titled:
            sections.append((f"{path.name} p. {number}", []))
            page_titled = True
        lines: list[str] = []
        for line in text.splitlines() + [""]:
            if is_heading(line) or not line.strip():
                if lines:
                    sections[-1][1].extend(split_long("\n".join(lines)))
                    lines = []
                if line.strip():
                    sections.append((" ".join(line.split()), []))
                    page_titled = False
            else:
                lines.append(line.strip())
    return document_entries(path, [(title, "\n\n".join(paras)) for title, paras in sections if paras])
