"""Dense retrieval fused with BM25 inside the retriever, on a real snapshot and the real embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowledge_base.entries import Entry
from knowledge_base.index.writer import IndexStore
from knowledge_base.retrieval.retriever import Retriever
from knowledge_base.index.sync import sync_index

PRODUCTS = [
    Entry("charger-xr200", "Does the charger work with my phone?",
          "The XR-200 charger supports USB-C phones up to 65 W.", ["Is the charger compatible?"]),
    Entry("charger-qz9", "Which charger should I buy?",
          "The QZ9 travel charger has two ports and folds flat.", ["Recommend a charger"]),
    Entry("cable-length", "How long is the cable?", "All our cables are 1.5 m long.",
          ["cable length", "what size is the cord"]),
]


def build(tmp_path: Path, repository, embedder) -> Retriever:
    repository.upsert(PRODUCTS)
    store = IndexStore(tmp_path / "index", entry_head="off")  # cosine scores: what this file tests
    manifest = sync_index(repository, store, embedder)
    assert manifest.lexical_weight > 0  # calibrated from this model's cosine spread
    assert (store.snapshots_dir / manifest.snapshot / "lexical.json").exists()
    return Retriever(store, embedder)


def test_an_exact_product_code_is_found_through_bm25(tmp_path: Path, repository, embedder) -> None:
    retriever = build(tmp_path, repository, embedder)
    query = "XR-200 question"
    dense_only = retriever.search(query, 3, lexical_weight=0.0)
    fused = retriever.search(query, 3, lexical_weight=0.5)
    assert fused[0].entry.id == "charger-xr200"
    assert dense_only[0].entry.id != "charger-xr200"  # the code is in the answer, not the phrasings


def test_fused_hits_keep_their_cosine_for_the_threshold(tmp_path: Path, repository, embedder) -> None:
    retriever = build(tmp_path, repository, embedder)
    query = "XR-200 question"
    vector = embedder.encode([query])[0]
    for hit in retriever.search(query, 3, lexical_weight=0.5):
        phrasing_vector = embedder.encode([hit.phrasing])[0]
        assert np.isclose(hit.score, float(phrasing_vector @ vector), atol=1e-4)
