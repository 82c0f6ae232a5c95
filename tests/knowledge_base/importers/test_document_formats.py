"""XLSX, PDF, DOCX and HTML importers on real files written by the same libraries (a PDF by hand),
and every file that is not what its name says refused with its reason, never a traceback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from document_files import pdf_bytes, write_docx, write_pdf, write_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge_base.importers.base import ImportFileError
from knowledge_base.importers.importing import import_file
from knowledge_base.importers.readers import read_file
from knowledge_base.importers.text import CHUNK_CHARS


def test_xlsx_rows_like_csv_with_every_bad_row_reported(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "faq.xlsx", [
        ["ID", "Question", "Answer", "Alternates", "Tags", None],  # an empty header cell at the end
        ["ship", "How long is shipping?", "3-5 days.", "Delivery time|When will it arrive?", "a,b"],
        [None, 2024, "A number as a question is its digits.", None, None, None],
        [None, None, None],  # blank: skipped silently
        ["c", "No answer here?", None],
        ["bad id!", "Question?", "Answer."],
        ["d", "Too many?", "Cells.", None, None, None, "extra"],
        ["e", "Last good one?", "Yes."],
    ], sheets_before=1)  # the header is on the second sheet: the first has none
    result = read_file(path)
    assert [(e.id, e.question) for e in result.entries] == [
        ("ship", "How long is shipping?"), ("faq-3", "2024"), ("e", "Last good one?")]
    assert result.entries[0].alternates == ["Delivery time", "When will it arrive?"]
    assert result.entries[0].tags == ["a", "b"]
    assert [(Path(e.file).name, e.line) for e in result.errors] == [("faq.xlsx", 5), ("faq.xlsx", 6), ("faq.xlsx", 7)]
    assert "missing answer" in result.errors[0].reason
    assert "7 columns, the header has 5" in result.errors[2].reason
    assert read_file(path).entries == result.entries  # stable ids: a re-import upserts


def test_xlsx_without_a_header_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "faq.xlsx", [["Q", "A"], ["x", "y"]])
    with pytest.raises(ImportFileError, match="must name the columns 'question' and 'answer'.*found: q, a"):
        read_file(path)


def test_pdf_is_cut_at_headings_pages_and_size(tmp_path: Path) -> None:
    long_lines = [f"Line {n} of a page that goes on without any blank line at all." for n in range(60)]
    path = write_pdf(tmp_path / "policy.pdf", [
        ["Welcome to the shop policy.", "1 Shipping", "We ship in 3 days.", "", "2.1 Returns", "Within 30 days."],
        ["Returns go on here.", "PAYMENT METHODS", "Visa and PayPal."],
        long_lines,
    ])
    result = read_file(path)
    assert result.errors == []
    pairs = [(e.question, e.answer) for e in result.entries]
    assert pairs[:4] == [
        ("policy.pdf p. 1", "Welcome to the shop policy."),
        ("1 Shipping", "We ship in 3 days."),
        ("2.1 Returns", "Within 30 days.\n\nReturns go on here."),  # a section runs on over the page
        ("PAYMENT METHODS", "Visa and PayPal."),
    ]
    # The third page has no heading: it continues PAYMENT METHODS, cut by size on line breaks.
    assert {e.question for e in result.entries[4:]} == {"PAYMENT METHODS"} and len(result.entries) >= 6
    assert all(len(e.answer) <= CHUNK_CHARS for e in result.entries)
    assert "Line 59 of a page" in result.entries[-1].answer
    assert [e.id for e in result.entries][:2] == ["policy-1", "policy-2"]
    assert [e.id for e in read_file(path).entries] == [e.id for e in result.entries]


def test_pdf_without_headings_names_sections_by_page(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "notes.pdf", [["Plain words on one page."], ["More words on the next."]])
    assert [e.question for e in read_file(path).entries] == ["notes.pdf p. 1", "notes.pdf p. 2"]


def test_password_protected_and_textless_pdfs_are_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([["Secret words."]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as handle:
        writer.write(handle)
    with pytest.raises(ImportFileError, match="password-protected"):
        read_file(locked)
    with pytest.raises(ImportFileError, match="holds no text"):
        read_file(write_pdf(tmp_path / "scan.pdf", [[]]))


def test_docx_is_cut_at_heading_1_to_3(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "Guide.docx", [
        ("p", "Intro before any heading."),
        ("h1", "Shipping"), ("p", "We ship in 3 days."), ("h4", "Small print"), ("p", "Not on holidays."),
        ("h2", "Returns"), ("table", "Item|Days"), ("table", "Shoes|30"),
        ("h3", "Refunds"), ("p", "Paid back in 5 days."),
    ])
    result = read_file(path)
    assert result.errors == []
    assert [(e.question, e.answer) for e in result.entries] == [
        ("Intro before any heading.", "Intro before any heading."),
        ("Shipping", "We ship in 3 days.\n\nSmall print\n\nNot on holidays."),
        ("Returns", "Item | Days\n\nShoes | 30"),
        ("Refunds", "Paid back in 5 days."),
    ]
    assert [e.id for e in result.entries] == ["guide-1", "guide-2", "guide-3", "guide-4"]


def test_html_keeps_visible_text_only_cut_at_h1_to_h3(tmp_path: Path) -> None:
    path = tmp_path / "help.html"
    path.write_bytes("""<!doctype html><html><head><title>Help  centre</title>
<style>body { color: red }</style><script>alert("x")</script></head><body>
<nav><a href="/">Home</a> | <a href="/faq">FAQ</a></nav>
<p>Hello &amp; welcome, <b>dear</b> customer.</p><!-- a comment -->
<h1>Shipping</h1><p>We ship in <em>3</em> days.</p><ul><li>Fast</li><li>Free over 50&nbsp;€</li></ul>
<h2>Returns <small>(EU)</small></h2><div>Within 30 days.<br>Keep the receipt.</div>
<script>var hidden = "never in an answer";</script><h4>Note</h4><p>5 &lt; 6 is plain text.</p>
</body></html>""".encode())
    result = read_file(path)
    assert [(e.question, e.answer) for e in result.entries] == [
        ("Help centre", "Hello & welcome, dear customer."),
        ("Shipping", "We ship in 3 days.\n\nFast\n\nFree over 50\xa0€".replace("\xa0", " ")),
        ("Returns (EU)", "Within 30 days.\n\nKeep the receipt.\n\nNote\n\n5 < 6 is plain text."),
    ]
    text = " ".join(e.answer for e in result.entries)
    for absent in ("alert", "hidden", "color", "Home", "comment", "<b>", "<p>"):
        assert absent not in text


def test_html_in_a_legacy_encoding_is_read_by_its_meta_charset(tmp_path: Path) -> None:
    path = tmp_path / "old.htm"
    path.write_bytes('<html><head><meta charset="iso-8859-1"></head><body><h1>Café</h1><p>Crème brûlée.</p>'
                     '</body></html>'.encode("latin-1"))
    [entry] = read_file(path).entries
    assert (entry.question, entry.answer) == ("Café", "Crème brûlée.")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


WRONG_FILES = [
    ("faq.pdf", b"Just some text, saved as .pdf", "not a PDF file"),
    ("faq.pdf", _zip({"word/document.xml": b"<w/>"}), "not a PDF file.*looks like a ZIP"),
    ("faq.pdf", pdf_bytes([["Cut off"]])[:200], "damaged PDF"),
    ("faq.xlsx", b"id,question,answer\n1,a,b\n", "not a XLSX file \\(not a ZIP archive\\)"),
    ("faq.xlsx", _zip({"word/document.xml": b"<w/>"}), "not a XLSX file \\(it is a Word document"),
    ("faq.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old binary Office file"),
    ("faq.xlsx", _zip({"xl/workbook.xml": b"<not really"}), "not a readable XLSX workbook"),
    ("faq.xlsx", b"PK\x03\x04" + b"\xff" * 100, "not a XLSX file"),
    ("guide.docx", _zip({"xl/workbook.xml": b"<x/>"}), "not a DOCX file \\(it is an Excel workbook"),
    ("guide.docx", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not a DOCX file.*looks like an image"),
    ("guide.docx", _zip({"word/document.xml": b"<broken"}), "not a readable DOCX document"),
    ("page.html", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "binary data, not an HTML text file"),
    ("page.html", pdf_bytes([["A PDF named .html"]]), "binary data.*looks like a PDF"),
    ("page.htm", b"<html><body><script>only()</script></body></html>", "holds no text"),
    ("empty.pdf", b"", "the file is empty"),
]


@pytest.mark.parametrize("name, content, message", WRONG_FILES)
def test_files_that_are_not_what_their_name_says_are_refused(
        tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_file(path)


def test_a_refused_file_is_reported_by_the_import(tmp_path: Path, repository) -> None:
    path = tmp_path / "faq.xlsx"
    path.write_bytes(b"plain text")
    report = import_file(repository, path)
    assert "not a XLSX file" in report.refused and report.imported == 0
    assert repository.list_entries() == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".pdf", ".xlsx", ".docx", ".html"]),
       head=st.sampled_from([b"", b"%PDF-1.7\n", b"PK\x03\x04", b"<html>"]), body=st.binary(max_size=400))
def test_any_bytes_are_imported_or_refused_never_a_traceback(tmp_path: Path, suffix: str, head: bytes,
                                                             body: bytes) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(head + body)
    try:
        read_file(path)
    except ImportFileError:
        pass
