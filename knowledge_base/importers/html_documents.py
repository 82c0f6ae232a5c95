"""HTML pages: the visible text only (scripts, styles, navigation and the head dropped, never
markup), cut into sections at h1-h3 and chunked like Markdown (`text.document_entries`). Text
before the first heading is named after the page's <title>. A binary file named .html is refused
with `ImportFileError`. Parsed with BeautifulSoup over the standard library's html.parser, which
accepts any tag soup and guesses the encoding from the bytes and <meta charset>.
"""

from __future__ import annotations

from pathlib import Path

from knowledge_base.importers.base import ImportFileError, ImportResult
from knowledge_base.importers.sniffing import read_bytes, require_text_markup
from knowledge_base.importers.text import document_entries, split_long

# Elements whose content is no page text.
_DROPPED = ["script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "object", "form"]
# Elements that end a paragraph (the rest, such as <b> or <a>, flow inside one).
_BLOCKS = ["p", "div", "li", "tr", "br", "section", "article", "main", "aside", "header", "footer",
           "blockquote", "pre", "table", "ul", "ol", "dl", "dt", "dd", "h4", "h5", "h6", "figure",
           "figcaption", "address", "hr"]
_SECTION_HEADINGS = ["h1", "h2", "h3"]
# Marks a heading in the extracted text: a private-use character, removed from the page first.
_MARK = "\ue000"


def read_html(path: Path) -> ImportResult:
    """Entries of an HTML page, one or more per h1-h3 section."""
    data = read_bytes(path)
    require_text_markup(path, data)
    from bs4 import BeautifulSoup  # imported here: importing knowledge_base stays light

    try:
        soup = BeautifulSoup(data, "html.parser")
    except Exception as exc:  # html.parser accepts tag soup; this is a safety net, not a path
        raise ImportFileError(f"{path}: not readable HTML ({type(exc).__name__}: {exc})") from None
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    for text in soup.find_all(string=lambda s: _MARK in s):
        text.replace_with(text.replace(_MARK, ""))
    for tag in soup.find_all(_DROPPED):
        tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in soup.find_all(_SECTION_HEADINGS):
        tag.replace_with(f"\n\n{_MARK}{' '.join(tag.get_text(' ').split())}\n\n")
    sections: list[tuple[str, list[str]]] = [(title or path.name, [])]
    for block in soup.get_text().split("\n\n"):
        text = " ".join(block.split())
        if text.startswith(_MARK):
            sections.append((text[1:].strip(), []))
        elif text:
            sections[-1][1].extend(split_long(text))
    if not any(paras for _, paras in sections):
        raise ImportFileError(f"{path}: the page holds no text")
    return document_entries(path, [(title, "\n\n".join(paras)) for title, paras in sections if paras])
