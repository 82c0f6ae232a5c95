"""Markdown and plain-text documents, chunked into entries.

Markdown is cut at its headings (a heading becomes its sections' question), plain text is one
section; each section's paragraphs are packed into chunks of about `CHUNK_CHARS` characters.
"""

from __future__ import annotations

import re
from pathlib import Path

from knowledge_base.entries import (
    MAX_ALTERNATE_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_QUESTION_CHARS,
    Entry,
    EntryError,
)
from knowledge_base.importers.base import ImportResult, RowError, read_text, slug

# Documents are cut into chunks of about this many characters, on paragraph boundaries, so one
# entry stays small enough to quote in a prompt.
CHUNK_CHARS = 1200


def chunks(paragraphs: list[str], limit: int = CHUNK_CHARS) -> list[str]:
    """Paragraphs packed into chunks of about `limit` characters (a longer paragraph stays whole)."""
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        if current and len(current) + len(para) + 2 > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        chunks.append(current)
    return chunks


def document_entries(path: Path, sections: list[tuple[str, str]]) -> ImportResult:
    """Turn (title, body) sections into entries (ids: the file's slug and the chunk's number);
    paragraphs are separated by a blank line. The body text is also a phrasing, so a customer's
    question finds the chunk by its content, not only by its heading. Every document reader
    (Markdown, TXT, PDF, DOCX, HTML) ends here, so they chunk alike."""
    result = ImportResult()
    stem = slug(path.stem)
    counter = 0
    for title, body in sections:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        for chunk in chunks(paragraphs):
            counter += 1
            question = (title or chunk.split("\n", 1)[0][:200])[:MAX_QUESTION_CHARS]
            try:
                result.entries.append(Entry(
                    id=f"{stem}-{counter}", question=question, answer=chunk,
                    alternates=[" ".join(chunk.split())[:MAX_ALTERNATE_CHARS]],
                    category=path.stem[:MAX_CATEGORY_CHARS],  # a file name may be longer than the column
                ).validate())
            except EntryError as exc:
                result.errors.append(RowError(str(path), counter, str(exc)))
    return result


def read_markdown(path: Path) -> ImportResult:
    """Entries of a Markdown document, one or more per section under a heading."""
    text = read_text(path)
    sections: list[tuple[str, str]] = []
    title, body = "", []
    for line in text.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*\S)\s*#*\s*$", line)
        if heading:
            if "".join(body).strip():
                sections.append((title, "\n".join(body)))
            title, body = heading.group(1).strip(), []
        else:
            body.append(line)
    if "".join(body).strip():
        sections.append((title, "\n".join(body)))
    return document_entries(path, sections)


def read_txt(path: Path) -> ImportResult:
    """Entries of a plain-text document, chunked on paragraphs."""
    return document_entries(path, [("", read_text(path))])


def split_long(paragraph: str, limit: int = CHUNK_CHARS) -> list[str]:
    """A paragraph cut at line breaks (then spaces) into pieces of at most about `limit`
    characters: extracted text (PDF pages) often has no blank lines, and a page-long
    paragraph would make one entry too long to quote."""
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for word in re.split(r"(?<=\n)|(?<= )", paragraph):
        if current and len(current) + len(word) > limit:
            pieces.append(current.strip())
            current = ""
        current += word
    if current.strip():
        pieces.append(current.strip())
    return pieces
