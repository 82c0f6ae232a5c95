"""The knowledge base in the database: upsert by id, versions, tombstones."""

from __future__ import annotations

import pytest

from knowledge_base.entries import Entry, EntryError


def test_upsert_creates_updates_and_skips_unchanged(shop_entries, repository) -> None:
    first = repository.upsert(shop_entries)
    assert (first.created, first.updated, first.unchanged, first.version) == (4, 0, 0, 1)
    again = repository.upsert(shop_entries)
    assert (again.created, again.updated, again.unchanged, again.version) == (0, 0, 4, 1)
    changed = Entry(**{**shop_entries[0].to_dict()})
    changed.answer = "Standard shipping takes 2-4 business days."
    result = repository.upsert([changed])
    assert (result.created, result.updated, result.version) == (0, 1, 2)
    assert repository.get("ship-time").answer == "Standard shipping takes 2-4 business days."
    assert repository.get("ship-time").version == 2
    assert repository.get("returns").version == 1


def test_delete_leaves_a_tombstone_for_the_index(shop_entries, repository) -> None:
    repository.upsert(shop_entries)
    assert repository.delete(["returns", "missing"]) == 1
    assert repository.get("returns") is None
    assert "returns" not in [e.id for e in repository.list_entries()]
    changes = repository.changes_since(1)
    assert changes.deleted_ids == ["returns"] and changes.upserted == [] and changes.version == 2
    assert repository.delete(["returns"]) == 0  # deleting twice changes nothing
    assert repository.current_version() == 2


def test_invalid_entry_is_refused_whole(shop_entries, repository) -> None:
    with pytest.raises(EntryError, match="answer is empty"):
        repository.upsert([*shop_entries, Entry("x", "Question?", "  ")])
    assert repository.list_entries() == []  # nothing half-written


def test_a_large_upsert_is_one_version_with_progress_per_batch(repository) -> None:
    entries = [Entry(f"e-{i}", f"Question {i}?", f"Answer {i}.") for i in range(1_201)]
    seen: list[int] = []
    result = repository.upsert(entries, summary="import big.csv", progress=seen.append)
    assert (result.created, result.version) == (1_201, 1)
    assert seen == [500, 500, 201]
    assert {e.version for e in repository.list_entries()} == {1}
    again = repository.upsert(entries, progress=seen.append)  # unchanged: no new version
    assert (again.unchanged, again.version, repository.current_version()) == (1_201, 1, 1)


def test_an_upsert_that_fails_midway_stores_nothing(repository) -> None:
    repository.upsert([Entry("kept", "Kept?", "Yes.")])
    entries = [Entry(f"e-{i}", f"Question {i}?", f"Answer {i}.") for i in range(1_000)]

    def fail_on_the_second_batch(count: int) -> None:
        if sum(seen) >= 500:
            raise RuntimeError("interrupted")
        seen.append(count)

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="interrupted"):
        repository.upsert(entries, progress=fail_on_the_second_batch)
    assert [e.id for e in repository.list_entries()] == ["kept"] and repository.current_version() == 1


def test_rows_an_older_version_stored_are_read_back_storable(repository) -> None:
    """Before the text boundary a lone surrogate reached the JSON columns (the driver escapes it);
    reading such a row back must not hand it to the index writer."""
    from sqlalchemy.orm import Session

    from knowledge_base.db_models import EntryRow, KBVersionRow

    with Session(repository._engine) as session, session.begin():
        session.add(KBVersionRow(version=1, summary="written by an older version"))
        session.add(EntryRow(id="poison", question="Is this poisoned?", answer="Yes.",
                             alternates=["still \ud800 here"], tags=["\udc00"], version=1))
    [entry] = repository.list_entries()
    assert (entry.alternates, entry.tags) == (["still \ufffd here"], ["\ufffd"])
    assert repository.get("poison").tags == ["\ufffd"]
    assert repository.changes_since(0).upserted[0].tags == ["\ufffd"]
    # Re-importing the entry as it now reads repairs the row: a change, so a new version.
    assert repository.upsert([entry]).updated == 1
