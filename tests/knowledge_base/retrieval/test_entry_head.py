"""The classifier head over the entries: fit, save/load, blend and cross-validated calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge_base.retrieval.entry_head import (EntryHead, blend, cross_validated_scores, fit_entry_head,
                                       head_wanted)
from knowledge_base.entries import Entry

DEMO_KB = Path(__file__).resolve().parents[3] / "knowledge_base" / "demo" / "shop_faq.jsonl"


@pytest.fixture(scope="module")
def demo_vectors(embedder) -> tuple[np.ndarray, np.ndarray, list[Entry]]:
    """The demo KB's English phrasings, embedded by the shipped MiniLM."""
    from knowledge_base.importers.readers import read_file

    entries = [e for e in read_file(DEMO_KB).entries if e.language == "en"]
    texts = [t for e in entries for t in e.phrasings]
    ids = np.array([e.id for e in entries for _ in e.phrasings])
    return embedder.encode(texts), ids, entries


def test_head_learns_the_entries_and_survives_a_round_trip(tmp_path: Path, demo_vectors, embedder) -> None:
    vectors, ids, entries = demo_vectors
    head = fit_entry_head(vectors, ids)
    assert set(head.classes) == set(ids.tolist())
    probs = head.probabilities(vectors)
    assert probs.shape == (len(vectors), len(head.classes))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # On its own training phrasings the head is nearly always right.
    assert np.mean(np.array(head.classes)[probs.argmax(1)] == ids) > 0.95
    head.save(tmp_path)
    again = EntryHead.load(tmp_path)
    assert again.classes == head.classes
    assert np.allclose(again.probabilities(vectors), probs)
    assert EntryHead.load(tmp_path / "nowhere") is None
    # A new customer question goes to the right entry.
    question = embedder.encode(["my parcel still hasn't come, where is it"])
    by_class = dict(zip(head.classes, head.probabilities(question)[0]))
    best = max(by_class, key=by_class.get)
    assert any("deliver" in e.answer.lower() or "track" in e.answer.lower() for e in entries if e.id == best)


def test_two_entries_give_a_proper_softmax() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    head = fit_entry_head(vectors, ["a", "a", "b", "b"])
    probs = head.probabilities(np.array([[1, 0], [0, 1]], dtype=np.float32))
    assert probs.shape == (2, 2)
    assert probs[0, head.classes.index("a")] > 0.5 > probs[1, head.classes.index("a")]
    assert fit_entry_head(vectors[:2], ["a", "a"]) is None
    with pytest.raises(ValueError, match="vectors but"):
        fit_entry_head(vectors, ["a", "b"])


def test_cross_validated_scores_are_honest(demo_vectors) -> None:
    vectors, ids, _ = demo_vectors
    scores, correct = cross_validated_scores(vectors, ids)
    assert len(scores) == len(vectors)  # every demo entry has alternates
    # Held-out phrasings are harder than training ones: not all right, but mostly.
    assert 0.6 < correct.mean() < 1.0
    # Right answers score higher than wrong ones: the threshold has something to separate.
    assert scores[correct].mean() > scores[~correct].mean()
    again, _ = cross_validated_scores(vectors, ids)
    assert np.array_equal(scores, again)  # seeded


def test_blend_and_when_a_head_is_wanted() -> None:
    assert blend(0.8, 0.4) == pytest.approx(0.6)
    assert blend(0.8, 0.4, weight=0.0) == pytest.approx(0.8)
    assert head_wanted("auto", entry_count=77, phrasing_count=770)
    assert not head_wanted("auto", entry_count=77, phrasing_count=77)  # no alternates
    assert not head_wanted("auto", entry_count=6, phrasing_count=18)  # too few entries for a softmax
    assert not head_wanted("auto", entry_count=10_000, phrasing_count=100_000)
    assert head_wanted("on", entry_count=10_000, phrasing_count=10_000)
    assert not head_wanted("off", entry_count=77, phrasing_count=770)
    assert not head_wanted("on", entry_count=1, phrasing_count=5)
    with pytest.raises(ValueError, match="entry_head must be"):
        head_wanted("sometimes", 10, 100)


def test_a_snapshot_with_a_head_ranks_and_calibrates_on_the_blended_score(tmp_path: Path, embedder) -> None:
    from knowledge_base.retrieval.calibration import CalibrationInputs
    from knowledge_base.importers.readers import read_file
    from knowledge_base.index.writer import IndexStore
    from knowledge_base.retrieval.retriever import Retriever

    entries = [e for e in read_file(DEMO_KB).entries if e.language == "en"]
    with_head = IndexStore(tmp_path / "head").rebuild(entries, 1, embedder, calibration=CalibrationInputs(0.15))
    without = IndexStore(tmp_path / "plain", entry_head="off").rebuild(entries, 1, embedder,
                                                                        calibration=CalibrationInputs(0.15))
    assert with_head.entry_head and with_head.head_weight == 0.5 and not without.entry_head
    assert (tmp_path / "head" / "snapshots" / with_head.snapshot / "head.npz").is_file()
    assert with_head.calibration["wrong_rate"] <= 0.15 and with_head.calibration["answer_rate"] > 0.5

    retriever = Retriever(IndexStore(tmp_path / "head"), embedder)
    hits = retriever.search("my parcel still hasn't come, where is it", k=5, lexical_weight=0)
    snap = retriever.snapshot()
    vector = embedder.encode(["my parcel still hasn't come, where is it"])[0]
    probabilities = dict(zip(snap.head.classes, snap.head.probabilities(vector)[0]))
    for hit in hits:  # the score the threshold reads is the blend of the cosine and the head
        cosine = float(max(snap.index.reconstruct(v) @ vector for v in snap.vector_ids[hit.entry.id]))
        assert hit.score == pytest.approx(blend(cosine, probabilities[hit.entry.id]), abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # An off-topic question scores below the calibrated threshold.
    off_topic = retriever.search("what is the capital of Mongolia", k=1)[0]
    assert off_topic.score < with_head.answer_threshold
    with pytest.raises(ValueError, match="entry_head must be"):
        IndexStore(tmp_path / "bad", entry_head="maybe")


def test_a_head_carried_to_new_standardisation_gives_the_same_logits(demo_vectors) -> None:
    from knowledge_base.retrieval.entry_head import _transfer

    vectors, ids, _ = demo_vectors
    head = fit_entry_head(vectors, ids)
    # Another KB's statistics (half the phrasings) and one entry the old head never saw.
    half = vectors[::2]
    mean, scale = half.mean(axis=0), half.std(axis=0) + 0.01
    classes = (*head.classes[:5], "brand-new-entry")
    coef, intercept = _transfer(head, classes, mean, scale)
    probe = vectors[:7]
    old = ((probe - head.mean) / head.scale) @ head.coef[:5].T + head.intercept[:5]
    new = ((probe - mean) / scale) @ coef.T + intercept
    np.testing.assert_allclose(new[:, :5], old, rtol=1e-3, atol=1e-3)
    assert not coef[5].any() and intercept[5] == 0.0


def test_a_warm_started_fit_lands_where_a_cold_one_does(demo_vectors) -> None:
    vectors, ids, _ = demo_vectors
    cold = fit_entry_head(vectors, ids)
    # The previous snapshot lacked one entry and had slightly different vectors.
    keep = np.array([entry_id != ids[0] for entry_id in ids])
    previous = fit_entry_head(vectors[keep] * 0.98, [e for e, k in zip(ids, keep) if k])
    warm = fit_entry_head(vectors, ids, init=previous)
    assert warm.classes == cold.classes
    agree = (warm.probabilities(vectors).argmax(1) == cold.probabilities(vectors).argmax(1)).mean()
    assert agree > 0.98
    np.testing.assert_allclose(warm.probabilities(vectors), cold.probabilities(vectors), atol=0.05)


def test_entry_max_cosine_is_each_entrys_best_phrasing() -> None:
    from knowledge_base.retrieval.entry_head import entry_max_cosine

    phrasings = np.array([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], dtype=np.float32)
    queries = np.array([[1, 0], [0, 1]], dtype=np.float32)
    scores = entry_max_cosine(queries, phrasings, ["b", "a", "b", "c"], ["a", "b", "c", "unseen"])
    np.testing.assert_allclose(scores, [[0.0, 1.0, -1.0, -1.0], [1.0, 0.8, 0.0, -1.0]])
