"""Tuning the embedder on a knowledge base: batching rules (fast) and a real tuning run (slow)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.entries import Entry
from knowledge_base.embedding.tuning import build_pairs, data_hash, plan_batches

# 8 entries x 4 phrasings to tune on, and one unseen paraphrase of each to check generalisation.
KB = {
    "ship-time": ["How long does shipping take?", "When will my order arrive?",
                  "delivery time for my parcel", "how many days until my package comes"],
    "returns": ["Can I return an item?", "What is your return policy?",
                "I want to send something back", "how do I get a refund for a product"],
    "payment": ["Which payment methods do you accept?", "Can I pay with PayPal?",
                "do you take credit cards", "what ways can I pay"],
    "password": ["How do I reset my password?", "I forgot my password",
                 "can't log in to my account", "change my login password"],
    "cancel": ["How do I cancel my order?", "I want to cancel a purchase",
               "stop my order before it ships", "cancel the thing I just bought"],
    "track": ["Where is my order?", "How can I track my package?",
              "tracking number for my shipment", "see the status of my delivery"],
    "contact": ["How can I contact support?", "What is your phone number?",
                "talk to a human agent", "customer service email address"],
    "discount": ["Do you have any discount codes?", "Is there a coupon available?",
                 "how do I use a promo code", "are there any sales right now"],
}
HELD_OUT = {
    "ship-time": "how soon will the stuff I ordered get here",
    "returns": "is it possible to bring back something I bought",
    "payment": "can I use my visa card to buy",
    "password": "I no longer remember my password",
    "cancel": "please call off my order",
    "track": "where's my parcel right now",
    "contact": "I need to speak with someone from your team",
    "discount": "any voucher to get money off",
}


def _entries(order: list[str] | None = None) -> list[Entry]:
    ids = order or list(KB)
    return [Entry(i, KB[i][0], f"Answer about {i}.", KB[i][1:]) for i in ids]


# -- fast: pure functions, no model -------------------------------------------------------------
def test_pairs_give_each_phrasing_two_siblings_and_singletons_a_self_pair() -> None:
    entries = _entries() + [Entry("lonely", "A single phrasing", "Answer.")]
    rows = build_pairs(entries, seed=0)
    anchors = Counter(anchor for anchor, _, _ in rows)
    assert all(anchors[t] == 2 for texts in KB.values() for t in texts)
    assert ("A single phrasing", "A single phrasing") in {(a, p) for a, p, _ in rows}
    groups = {}
    for anchor, positive, group in rows:
        groups.setdefault(group, set()).update({anchor, positive})
        assert anchor != positive or anchor == "A single phrasing"
    assert sorted(len(texts) for texts in groups.values()) == [1] + [4] * 8
    assert build_pairs(list(reversed(entries)), seed=0) == rows  # entry order does not matter


@pytest.mark.parametrize("sizes,batch_size", [([20] * 77, 32), ([5, 1, 9, 3, 3], 2), ([2, 2], 8)])
def test_batches_hold_one_row_per_entry_and_use_every_row_once(sizes: list[int], batch_size: int) -> None:
    groups = [g for g, size in enumerate(sizes) for _ in range(size)]
    for seed in (0, 1):
        batches = plan_batches(groups, batch_size, seed)
        assert sorted(row for batch in batches for row in batch) == list(range(len(groups)))
        for batch in batches:
            assert len(batch) <= batch_size
            assert len({groups[row] for row in batch}) == len(batch)
        assert len(batches) == max(max(sizes), math.ceil(len(groups) / batch_size))


def test_batches_are_reshuffled_by_the_seed_and_repeatable() -> None:
    groups = [g for g in range(77) for _ in range(20)]
    assert plan_batches(groups, 32, 0) == plan_batches(groups, 32, 0)
    assert plan_batches(groups, 32, 0) != plan_batches(groups, 32, 1)


def test_data_hash_ignores_entry_order_and_sees_a_changed_phrasing() -> None:
    entries = _entries()
    assert data_hash(entries) == data_hash(list(reversed(entries)))
    changed = _entries()
    changed[0].alternates[0] = "When does my order arrive?"
    assert data_hash(changed) != data_hash(entries)


def test_importing_tuning_does_not_import_torch() -> None:
    code = "import sys, knowledge_base.embedding.tuning; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- slow: a real tuning run of the shipped MiniLM ----------------------------------------------
def _own_margin(vectors: np.ndarray, ids: list[str], queries: np.ndarray, expected: list[str]) -> float:
    """Mean over queries of (best cosine to own entry's phrasings − best cosine to any other)."""
    sims = queries @ vectors.T
    ids_arr = np.array(ids)
    margins = [sims[i, ids_arr == e].max() - sims[i, ids_arr != e].max() for i, e in enumerate(expected)]
    return float(np.mean(margins))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory):
    from knowledge_base.embedding.embedder import resolve_model_path
    from knowledge_base.embedding.tuning import tune_embedder

    base = resolve_model_path("all-MiniLM-L6-v2")
    out = tmp_path_factory.mktemp("tuning") / "tuned"
    report = tune_embedder(base, _entries(), out, epochs=1, device="cpu")
    return base, report


@pytest.mark.slow
def test_tuned_model_loads_keeps_its_config_and_learns_the_kb(tuned) -> None:
    from sentence_transformers import SentenceTransformer

    base_path, report = tuned
    assert report.out_dir.is_dir() and report.pairs == 64 and report.epochs == 1
    assert not [p for p in report.out_dir.parent.iterdir() if p.name.startswith(".tmp-")]
    base, model = SentenceTransformer(base_path, device="cpu"), SentenceTransformer(str(report.out_dir), device="cpu")
    assert model.get_embedding_dimension() == 384
    config = json.loads((report.out_dir / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == base.prompts
    assert json.loads((report.out_dir / "tuning.json").read_text())["data_hash"] == report.data_hash

    entries = _entries()
    texts = [t for e in entries for t in e.phrasings]
    ids = [e.id for e in entries for _ in e.phrasings]
    queries, expected = list(HELD_OUT.values()), list(HELD_OUT)
    before = base.encode(texts, normalize_embeddings=True)
    after = model.encode(texts, normalize_embeddings=True)
    assert np.abs(after - before).max() > 1e-3  # the weights moved
    margin_before = _own_margin(before, ids, base.encode(queries, normalize_embeddings=True), expected)
    margin_after = _own_margin(after, ids, model.encode(queries, normalize_embeddings=True), expected)
    assert margin_after > margin_before, (margin_before, margin_after)


@pytest.mark.slow
def test_same_entries_in_another_order_give_the_same_hash_and_model(tuned, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from knowledge_base.embedding.tuning import tune_embedder

    base_path, first = tuned
    again = tune_embedder(base_path, _entries(list(reversed(KB))), tmp_path / "again", epochs=1, device="cpu")
    assert again.data_hash == first.data_hash
    probe = ["where is my parcel?", "coupon please"]
    a = SentenceTransformer(str(first.out_dir), device="cpu").encode(probe)
    b = SentenceTransformer(str(again.out_dir), device="cpu").encode(probe)
    np.testing.assert_allclose(a, b, atol=1e-5)  # seeded: the same model


@pytest.mark.slow
def test_classifier_head_predicts_the_entry_of_a_training_phrasing(tuned) -> None:
    from knowledge_base.embedding.embedder import Embedder
    from knowledge_base.retrieval.entry_head import blend, entry_max_cosine, fit_entry_head

    _, report = tuned
    embedder = Embedder(str(report.out_dir), device="cpu")
    entries = _entries()
    ids = [e.id for e in entries for _ in e.phrasings]
    vectors = embedder.encode([t for e in entries for t in e.phrasings])
    head = fit_entry_head(vectors, ids)
    classes = np.array(head.classes)
    probs = head.probabilities(embedder.encode(["I forgot my password", "Can I pay with PayPal?"]))
    assert probs.shape == (2, 8) and list(classes[probs.argmax(axis=1)]) == ["password", "payment"]
    queries = embedder.encode(list(HELD_OUT.values()))
    cosine = entry_max_cosine(queries, vectors, ids, head.classes)
    combined = blend(cosine, head.probabilities(queries))
    assert (classes[combined.argmax(axis=1)] == np.array(list(HELD_OUT))).mean() >= 0.75
