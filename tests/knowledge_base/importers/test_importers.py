"""Importers: every format, every bad row reported with file, line and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.importers.base import ImportFileError
from knowledge_base.importers.readers import read_file


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_alternates_and_optional_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv",
                 "id,question,alternates,answer,category,tags\n"
                 "ship,How long is shipping?,When will it arrive?|Delivery time,3-5 days.,shipping,\"a,b\"\n")
    result = read_file(path)
    assert result.errors == []
    [entry] = result.entries
    assert entry.id == "ship"
    assert entry.alternates == ["When will it arrive?", "Delivery time"]
    assert entry.tags == ["a", "b"]
    assert entry.phrasings == ["How long is shipping?", "When will it arrive?", "Delivery time"]


def test_broken_rows_are_reported_and_good_rows_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv",
                 "id,question,answer\n"
                 "a,Good question?,Good answer.\n"
                 "b,,Answer without a question.\n"
                 "c,Question without answer?,\n"
                 "d,Too,many,columns\n"
                 "bad id!,Question?,Answer.\n"
                 "e,Another good one?,Yes.\n")
    result = read_file(path)
    assert [e.id for e in result.entries] == ["a", "e"]
    assert [(err.line, err.reason) for err in result.errors] == [
        (3, "missing question"),
        (4, "missing answer"),
        (5, "4 columns, the header has 3"),
        (6, "id 'bad id!' is not valid: use 1-128 letters, digits, '_', '-', '.', ':'"),
    ]
    assert str(result.errors[0]).startswith(f"{path}:3: ")


def test_tsv_and_missing_ids_get_stable_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "My FAQ.tsv", "question\tanswer\nWhy?\tBecause.\n")
    [entry] = read_file(path).entries
    assert entry.id == "my-faq-2"  # the file's name and the row's line: re-imports upsert


def test_json_and_jsonl(tmp_path: Path) -> None:
    items = [{"id": "x", "question": "Q?", "answer": "A.", "alternates": ["Q2?"], "language": "EN"},
             {"id": "y", "question": "Q?"}]
    result = read_file(write(tmp_path / "kb.json", json.dumps(items)))
    assert [e.id for e in result.entries] == ["x"]
    assert result.entries[0].language == "en"
    assert [(e.line, e.reason) for e in result.errors] == [(2, "missing answer")]

    lines = json.dumps(items[0]) + "\n{not json}\n\n" + json.dumps([1]) + "\n"
    result = read_file(write(tmp_path / "kb.jsonl", lines))
    assert [e.id for e in result.entries] == ["x"]
    assert [(e.line, e.reason.split(":")[0]) for e in result.errors] == [
        (2, "not valid JSON"), (4, "line is not an object")]


def test_markdown_is_chunked_by_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.md",
                 "# Returns\n\nYou can return items within 30 days.\n\n## Refunds\n\nRefunds take 5 days.\n")
    entries = read_file(path).entries
    assert [(e.id, e.question) for e in entries] == [("policy-1", "Returns"), ("policy-2", "Refunds")]
    assert entries[1].answer == "Refunds take 5 days."
    assert entries[1].alternates == ["Refunds take 5 days."]  # the content is searchable too


def test_long_text_is_split_into_chunks(tmp_path: Path) -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 100 for i in range(6)]
    entries = read_file(write(tmp_path / "notes.txt", "\n\n".join(paragraphs))).entries
    assert len(entries) >= 3
    assert all(len(e.answer) <= 1300 for e in entries)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("faq.csv", b"\x00\x01\x02binary\xff", "binary data"),
    ("faq.csv", b"\xff\xfeq\x00", "binary data"),
    ("faq.csv", "question;answer\nA;B\n".encode(), "must name the columns"),
    ("kb.json", b"{broken", "not valid JSON"),
    ("kb.json", b'{"a": 1}', "expected a JSON list"),
    ("kb.jsonl", b"nope\nnever\n", "no line is valid JSON"),
    ("faq.pdf", b"%PDF-1.4", "damaged PDF"),  # a PDF cut off after its signature
    ("faq.odt", b"PK\x03\x04", "unsupported file type .odt"),
    ("faq.csv", "question,answer\nA,caf\xe9\n".encode("latin-1"), "not UTF-8"),
])
def test_files_that_are_not_what_their_name_says_are_refused(
        tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_file(path)
