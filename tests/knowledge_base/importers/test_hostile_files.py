"""Nothing a knowledge-base file holds can break an import, on SQLite and PostgreSQL: every
case of issue 11 (items 1-2) gets a clear message and leaves what was already stored unchanged."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from knowledge_base.db_models import Base
from knowledge_base.entries import Entry
from knowledge_base.importers.importing import FileReport, import_files
from knowledge_base.repository import KnowledgeBaseRepository

KEPT = Entry("kept", "Is this entry kept?", "Yes, it stays as it was.", ["still here?"], "policy", "en", ["a"])
FIELDS = ["id", "question", "answer", "alternates", "category", "language", "tags", "url"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeBaseRepository]:
    """A repository over a fresh database holding one entry, `KEPT`, at version 1."""
    url = (f"sqlite:///{tmp_path / 'kb.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db_url"))
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    repository = KnowledgeBaseRepository(engine)
    repository.upsert([KEPT])
    yield repository
    engine.dispose()


def stored(kb: KnowledgeBaseRepository) -> tuple[int, list[tuple[dict, int]]]:
    return kb.current_version(), [(e.to_dict(), e.version) for e in kb.list_entries()]


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def import_one(kb: KnowledgeBaseRepository, path: Path) -> FileReport:
    [report] = import_files(kb, [path])
    return report


def assert_untouched(kb: KnowledgeBaseRepository) -> None:
    assert stored(kb) == (1, [(KEPT.validate().to_dict(), 1)])


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u0000"])
def test_a_lone_surrogate_or_a_nul_in_any_field_is_stored_as_a_replacement(
        kb: KnowledgeBaseRepository, tmp_path: Path, field: str, escape: str) -> None:
    item = {"id": "poison", "question": "Is this poisoned?", "answer": "Yes.", "tags": ["t"]}
    item[field] = [f"x{escape}y"] if field in ("alternates", "tags") else f"x{escape}y"
    # The escape stays an escape in the file: json.loads turns it into the lone half (or NUL).
    path = write(tmp_path / "poison.json", json.dumps([item]).replace("\\\\u", "\\u"))
    report = import_one(kb, path)
    if field == "id":  # an id is kept to a safe alphabet: the row is refused, clearly
        assert report.imported == 0 and [e.reason for e in report.errors] == [
            "id 'x\ufffdy' is not valid: use 1-128 letters, digits, '_', '-', '.', ':'"]
        assert_untouched(kb)
        return
    assert (report.created, report.errors, report.refused) == (1, [], "")
    entry = kb.get("poison")
    value = getattr(entry, field)
    assert (value[0] if isinstance(value, list) else value) == "x\ufffdy"
    json.dumps(entry.to_dict(), ensure_ascii=False).encode("utf-8")  # what the index writes
    assert kb.get("kept").to_dict() == KEPT.validate().to_dict()


@pytest.mark.parametrize(("column", "limit"), [("language", 16), ("category", 200)])
def test_a_value_over_its_column_is_a_row_error_not_a_crash(
        kb: KnowledgeBaseRepository, tmp_path: Path, column: str, limit: int) -> None:
    path = write(tmp_path / "faq.csv", f"id,question,answer,{column}\n"
                                       f"ok,Fine?,Yes.,x\nlong,Too long?,Yes.,{'y' * (limit + 1)}\n")
    report = import_one(kb, path)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, f"{column} is {limit + 1} characters; the limit is {limit}")]
    assert report.created == 1 and kb.get("long") is None and kb.get("ok") is not None
    assert kb.get("kept").version == 1


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
def test_deeply_nested_json_is_refused(kb: KnowledgeBaseRepository, tmp_path: Path, suffix: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    good = json.dumps({"id": "good", "question": "Good?", "answer": "Yes."})
    content = f"[{nested}]" if suffix == ".json" else f"{good}\n{nested}\n"
    report = import_one(kb, write(tmp_path / f"deep{suffix}", content))
    message = "lists or objects nested over 64 levels deep"
    if suffix == ".json":
        assert report.refused == f"{tmp_path / 'deep.json'}: not a knowledge-base file: it holds {message}"
        assert_untouched(kb)
    else:  # one line of a JSONL file is one row: reported, the others imported
        assert [(e.line, e.reason) for e in report.errors] == [(2, f"not an entry: the line holds {message}")]
        assert report.created == 1 and kb.get("kept").version == 1


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
@pytest.mark.parametrize(("number", "holds"), [
    ("9" * 5_000, "a number of 5000 digits (the limit is 100)"),
    ("-" + "1" * 101, "a number of 101 digits (the limit is 100)"),
    ("NaN", "NaN, which is not a number in JSON"),
    ("-Infinity", "-Infinity, which is not a number in JSON"),
    ("1e999", "the number 1e999, too large to be one"),
])
def test_numbers_no_entry_holds_are_refused(kb: KnowledgeBaseRepository, tmp_path: Path, suffix: str,
                                            number: str, holds: str) -> None:
    item = '{"id": "n", "question": "Q?", "answer": "A.", "tags": [%s]}' % number
    path = write(tmp_path / f"numbers{suffix}", f"[{item}]" if suffix == ".json" else item + "\n")
    report = import_one(kb, path)
    if suffix == ".json":
        assert report.refused == f"{path}: not a knowledge-base file: it holds {holds}"
    else:
        assert [(e.line, e.reason) for e in report.errors] == [(1, f"not an entry: the line holds {holds}")]
    assert_untouched(kb)


@pytest.mark.parametrize(("content", "found"), [("5", "a number"), ('"entries"', "a str"), ("null", "a NoneType"),
                                                ('{"entries": 3}', "an object")])
def test_a_top_level_that_is_not_a_list_is_refused(kb: KnowledgeBaseRepository, tmp_path: Path,
                                                   content: str, found: str) -> None:
    report = import_one(kb, write(tmp_path / "kb.json", content))
    assert report.refused.endswith(f"expected a JSON list of entry objects (or {{\"entries\": [...]}}), found {found}")
    assert_untouched(kb)


def test_values_that_are_not_text_are_converted_or_reported(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    items = [{"id": 42, "question": "Numbers?", "answer": "Yes.", "category": 2024, "tags": [1, 2.5, "x"]},
             {"id": "b", "question": 5, "answer": "A."},
             {"id": "c", "question": "Q?", "answer": "A.", "tags": [{"nested": ["object"]}]},
             {"id": "d", "question": "Q?", "answer": "A.", "language": True},
             {"id": "e", "question": "Q?", "answer": "A.", "alternates": [["a"]]},
             {"id": ["f"], "question": "Q?", "answer": "A."}]
    report = import_one(kb, write(tmp_path / "types.json", json.dumps(items)))
    assert [(e.line, e.reason) for e in report.errors] == [
        (2, "question must be text, not a number"), (3, "tags item 1 must be text, not an object"),
        (4, "language must be text, not true/false"), (5, "alternates item 1 must be text, not a list"),
        (6, "id must be text, not a list")]
    entry = kb.get("42")
    assert (entry.category, entry.tags) == ("2024", ["1", "2.5", "x"])
    assert kb.get("kept").version == 1


def test_a_file_is_imported_whole_in_one_version(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    """Issue 11: a NUL after the first 8 KB crashed on PostgreSQL with 1,000 of 1,002 rows committed."""
    rows = [f"row-{i},Question number {i}?,Answer {i}." for i in range(1, 1_003)]
    rows[1_000] = "row-1001,Question with a NUL\x00?,Answer."
    report = import_one(kb, write(tmp_path / "big.csv", "id,question,answer\n" + "\n".join(rows) + "\n"))
    assert (report.created, report.errors, report.refused) == (1_002, [], "")
    assert kb.get("row-1001").question == "Question with a NUL\ufffd?"
    versions = {e.version for e in kb.list_entries() if e.id != "kept"}
    assert versions == {2} and kb.current_version() == 2  # one file, one version


def test_a_database_refusal_mid_file_stores_nothing_of_it(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    """The database refuses row 1,001 of 1,002 (after two flushed batches): the whole file is
    rolled back, its report says why, and the next file is imported."""
    engine = kb._engine
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON kb_entries WHEN NEW.id = 'row-1001' "
                                    "BEGIN SELECT RAISE(ABORT, 'row-1001 is refused by policy'); END"))
        else:
            connection.execute(text("ALTER TABLE kb_entries ADD CONSTRAINT row_1001_is_refused_by_policy "
                                    "CHECK (id <> 'row-1001')"))
    rows = "\n".join(f"row-{i},Question number {i}?,Answer {i}." for i in range(1, 1_003))
    refused = write(tmp_path / "big.csv", f"id,question,answer\n{rows}\n")
    fine = write(tmp_path / "fine.csv", "id,question,answer\nfine,Fine?,Yes.\n")
    first, second = import_files(kb, [refused, fine])
    assert first.refused.startswith(f"{refused}: the database refused it, so nothing of this file was imported: ")
    assert ("row-1001 is refused by policy" in first.refused or "row_1001_is_refused_by_policy" in first.refused)
    assert first.imported == 0
    assert [e.id for e in kb.list_entries()] == ["fine", "kept"]
    with engine.connect() as connection:  # no version for the refused file (PostgreSQL may skip a number)
        summaries = connection.execute(text("SELECT summary FROM kb_versions ORDER BY version")).scalars().all()
    assert summaries == ["upsert: 1 entries", "import fine.csv: 1 entries"]
    assert second.created == 1 and not second.refused


def test_a_cell_over_the_csv_module_limit_is_that_rows_error(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    """Issue 11: a field over 131,072 characters was reported at line 1 and later rows dropped."""
    long_answer = "a" * 200_000
    path = write(tmp_path / "faq.csv", "id,question,answer\n"
                                       "one,First?,Yes.\n"
                                       f'long,"Long\nquestion?","{long_answer}"\n'
                                       "three,Third?,Yes.\n"
                                       'four,"Multi\nline\nquestion?",\n'
                                       "five,Fifth?,Yes.\n")
    report = import_one(kb, path)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "answer is 200000 characters; the limit is 20000"), (6, "missing answer")]
    assert [e.id for e in kb.list_entries()] == ["five", "kept", "one", "three"]
    assert kb.get("kept").version == 1


def test_non_ascii_file_names_get_distinct_stable_ids(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    """Issue 11: 中文.md and 日本語.md both got ids entry-1, ... and the second overwrote the first."""
    chinese = write(tmp_path / "中文.md", "# 退货\n\n三十天内可以退货。\n")
    japanese = write(tmp_path / "日本語.md", "# 返品\n\n三十日以内に返品できます。\n")
    first = import_files(kb, [chinese, japanese])
    assert [(r.created, r.updated) for r in first] == [(1, 0), (1, 0)]
    ids = sorted(e.id for e in kb.list_entries() if e.id != "kept")
    assert len(ids) == 2 and all(i.startswith("entry-") for i in ids)
    again = import_files(kb, [chinese, japanese])  # the same names give the same ids
    assert [(r.created, r.updated, r.unchanged) for r in again] == [(0, 0, 1), (0, 0, 1)]
    ascii_named = import_one(kb, write(tmp_path / "Shop FAQ.md", "# Returns\n\n30 days.\n"))
    assert ascii_named.created == 1 and kb.get("shop-faq-1") is not None  # ASCII names keep their ids


def test_a_file_name_that_is_not_utf8_imports(kb: KnowledgeBaseRepository, tmp_path: Path) -> None:
    """Linux hands Python an undecodable byte of a file name as a lone surrogate (U+DCFF); it
    reaches the version's summary, the default ids' slug and a document's category."""
    path = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xffname.md"))
    write(path, "# Returns\n\n30 days.\n")
    report = import_one(kb, path)
    assert (report.created, report.refused) == (1, "")
    [entry] = [e for e in kb.list_entries() if e.id != "kept"]
    assert entry.id.startswith("bad-name-") and entry.category == "bad\ufffdname"


def test_a_jsonl_line_holding_unicode_line_separators_stays_one_line(kb: KnowledgeBaseRepository,
                                                                     tmp_path: Path) -> None:
    rows = [{"id": "sep", "question": "Line\u2028separator?", "answer": "Para\u2029graph\x85end."},
            {"id": "plain", "question": "Plain question?", "answer": "Plain answer."}]
    path = write(tmp_path / "separators.jsonl",
                 "\r\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\r\n")
    report = import_one(kb, path)
    assert (report.created, report.errors, report.refused) == (2, [], "")
    assert kb.get("sep").answer == "Para\u2029graph\x85end."
