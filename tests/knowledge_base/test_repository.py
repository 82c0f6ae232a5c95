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
