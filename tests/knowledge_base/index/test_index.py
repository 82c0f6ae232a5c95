"""Index snapshots with the real shipped embedder: build, incremental update, atomic switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge_base.entries import Entry
from knowledge_base.index.snapshot import IndexNotBuilt
from knowledge_base.index.writer import IndexStore
from knowledge_base.retrieval.retriever import Retriever
from knowledge_base.index.sync import sync_index


def top_ids(retriever: Retriever, query: str, k: int = 3) -> list[str]:
    return [hit.entry.id for hit in retriever.search(query, k)]


def test_build_writes_a_snapshot_with_a_manifest(shop_entries, tmp_path: Path, repository, embedder) -> None:
    repository.upsert(shop_entries)
    store = IndexStore(tmp_path / "index")
    manifest = sync_index(repository, store, embedder)
    assert (manifest.embedding_model, manifest.dimension, manifest.kb_version) == ("all-MiniLM-L6-v2", 384, 1)
    assert (manifest.entry_count, manifest.phrasing_count) == (4, 11)
    folder = store.snapshots_dir / manifest.snapshot
    assert json.loads((folder / "manifest.json").read_text())["checksum"] == manifest.checksum
    assert store.load(verify=True).index.ntotal == 11


def test_search_finds_the_entry_by_its_best_phrasing(shop_entries, tmp_path: Path, repository, embedder) -> None:
    repository.upsert(shop_entries)
    store = IndexStore(tmp_path / "index")
    sync_index(repository, store, embedder)
    retriever = Retriever(store, embedder)
    hits = retriever.search("I would like to send back the shoes I bought", 3)
    assert hits[0].entry.id == "returns"
    assert hits[0].phrasing == "I want to send something back"
    assert len({h.entry.id for h in hits}) == 3  # one hit per entry
    assert hits[0].score > hits[1].score


def test_one_change_updates_the_index_without_re_embedding_everything(shop_entries, 
        tmp_path: Path, repository, embedder, monkeypatch) -> None:
    monkeypatch.setattr("knowledge_base.retrieval.retriever.REFRESH_SECONDS", 0.0)
    repository.upsert(shop_entries)
    store = IndexStore(tmp_path / "index")
    sync_index(repository, store, embedder)
    retriever = Retriever(store, embedder)
    assert top_ids(retriever, "do you take gift cards?")[0] != "gift-cards"

    embedded: list[str] = []
    original = embedder.encode
    monkeypatch.setattr(embedder, "encode", lambda texts, **kw: embedded.extend(texts) or original(texts, **kw))
    repository.upsert([Entry("gift-cards", "Do you accept gift cards?", "Yes, at checkout.", ["gift voucher"])])
    repository.delete(["payment"])
    manifest = sync_index(repository, store, embedder)
    assert embedded == ["Do you accept gift cards?", "gift voucher"]  # only the new entry
    assert (manifest.kb_version, manifest.entry_count, manifest.phrasing_count) == (3, 4, 11)
    # The retriever picks up the new snapshot by itself.
    assert top_ids(retriever, "do you take gift cards?")[0] == "gift-cards"
    assert "payment" not in top_ids(retriever, "Can I pay with PayPal?", 4)


def test_a_crash_mid_build_leaves_the_old_snapshot_serving(shop_entries, 
        tmp_path: Path, repository, embedder, monkeypatch) -> None:
    repository.upsert(shop_entries)
    store = IndexStore(tmp_path / "index")
    before = sync_index(repository, store, embedder)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("faiss.write_index", crash)
    repository.upsert([Entry("new", "A new question?", "A new answer.")])
    with pytest.raises(OSError, match="disk full"):
        sync_index(repository, store, embedder)
    assert store.current_name() == before.snapshot
    assert store.load(verify=True).manifest.kb_version == 1
    monkeypatch.undo()
    assert sync_index(repository, store, embedder).kb_version == 2  # the next sync catches up


def test_no_index_yet_says_what_to_do(shop_entries, tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuilt, match="chatbot index rebuild"):
        IndexStore(tmp_path / "index").load()


def test_an_entry_an_older_version_stored_with_a_lone_surrogate_cannot_stop_a_build(
        shop_entries, tmp_path: Path, repository, embedder) -> None:
    """Issue 11: one such entry made every snapshot write fail (JSON written as UTF-8)."""
    from sqlalchemy.orm import Session

    from knowledge_base.db_models import EntryRow, KBVersionRow

    repository.upsert(shop_entries)
    with Session(repository._engine) as session, session.begin():  # as an older version stored it
        session.add(EntryRow(id="poison", question="Is this poisoned?", answer="Yes.",
                             alternates=["poisoned \ud800 entry"], tags=["\ud800"], version=1))
    store = IndexStore(tmp_path / "index")
    manifest = sync_index(repository, store, embedder)
    assert (manifest.entry_count, manifest.phrasing_count) == (5, 13)
    hits = Retriever(store, embedder).search("Is this poisoned?", 1)
    assert hits[0].entry.id == "poison" and hits[0].entry.tags == ["\ufffd"]
    # The incremental path reads changed rows too.
    with Session(repository._engine) as session, session.begin():
        session.get(EntryRow, "poison").alternates = ["again \udfff"]
        session.get(EntryRow, "poison").version = 2
        session.add(KBVersionRow(version=2, summary="older version"))
    assert sync_index(repository, store, embedder).kb_version == 2
