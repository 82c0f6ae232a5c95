"""The entry boundary: every text field storable, every length checked against its column."""

from __future__ import annotations

import json

import pytest

from knowledge_base.entries import (MAX_ALTERNATE_CHARS, MAX_CATEGORY_CHARS, MAX_LANGUAGE_CHARS, MAX_TAG_CHARS,
                                    MAX_URL_CHARS, Entry, EntryError)

TEXT_FIELDS = ["question", "answer", "alternates", "category", "language", "tags", "url"]


def entry_with(field: str, text: str) -> Entry:
    entry = Entry("e-1", "How long is shipping?", "3-5 days.")
    setattr(entry, field, [text] if field in ("alternates", "tags") else text)
    return entry


def field_text(entry: Entry, field: str) -> str:
    value = getattr(entry, field)
    return value[0] if isinstance(value, list) else value


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(("bad", "stored"), [("x\ud800y", "x\ufffdy"), ("x\x00y", "x\ufffdy"),
                                             ("\ud83d\ude00", "\U0001F600")])
def test_every_text_field_is_made_storable(field: str, bad: str, stored: str) -> None:
    valid = entry_with(field, bad).validate()
    assert field_text(valid, field) == stored
    # What the snapshot and the exports do with it cannot fail any more.
    json.dumps(valid.to_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(("field", "limit", "name"), [
    ("category", MAX_CATEGORY_CHARS, "category"), ("language", MAX_LANGUAGE_CHARS, "language"),
    ("alternates", MAX_ALTERNATE_CHARS, "alternate 1"), ("tags", MAX_TAG_CHARS, "tag 1"),
    ("url", MAX_URL_CHARS, "url"),
])
def test_lengths_are_checked_against_the_columns(field: str, limit: int, name: str) -> None:
    assert field_text(entry_with(field, "x" * limit).validate(), field) == "x" * limit
    with pytest.raises(EntryError) as error:
        entry_with(field, "x" * (limit + 1)).validate()
    assert str(error.value) == f"{name} is {limit + 1} characters; the limit is {limit}"


def test_a_replaced_character_counts_once_and_a_joined_pair_once() -> None:
    entry = entry_with("language", "\ud83d\ude00" * MAX_LANGUAGE_CHARS)  # 32 UTF-16 halves, 16 characters
    assert entry.validate().language == "\U0001F600" * MAX_LANGUAGE_CHARS


@pytest.mark.parametrize(("field", "value", "message"), [
    ("question", 5, "question must be text, not a number"),
    ("answer", ["a"], "answer must be text, not a list"),
    ("category", {"a": 1}, "category must be text, not an object"),
    ("tags", "one", "tags must be a list of text, not a str"),
    ("tags", ["ok", {"a": 1}], "tags item 2 must be text, not an object"),
    ("alternates", [True], "alternates item 1 must be text, not true/false"),
    ("id", 7, "id must be text, not a number"),
])
def test_values_that_are_not_text_are_refused_clearly(field: str, value: object, message: str) -> None:
    entry = Entry("e-1", "How long is shipping?", "3-5 days.")
    setattr(entry, field, value)
    with pytest.raises(EntryError, match=f"^{message}$"):
        entry.validate()


def test_a_long_bad_id_is_quoted_short() -> None:
    with pytest.raises(EntryError) as error:
        Entry("bad id " * 1000, "Q?", "A.").validate()
    assert len(str(error.value)) < 150 and "is not valid" in str(error.value)


def test_with_storable_text_repairs_what_an_older_version_stored() -> None:
    old = Entry("e-1", "Q\ud800?", "A\x00", alternates=["\udc00"], tags=["\ud800", 5], language="en")
    repaired = old.with_storable_text()
    assert repaired.to_dict() == {"id": "e-1", "question": "Q\ufffd?", "alternates": ["\ufffd"], "answer": "A\ufffd",
                                  "category": "", "language": "en", "tags": ["\ufffd", "5"], "url": ""}
