"""The abstain threshold calibrated on the knowledge base's own phrasings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowledge_base.retrieval.calibration import calibrate_threshold, leave_one_out_scores
from knowledge_base.embedding.embedder import ENGLISH_EMBEDDER, MULTILINGUAL_EMBEDDER, choose_embedding_model
from knowledge_base.entries import Entry
from knowledge_base.index.writer import IndexStore
from knowledge_base.index.sync import sync_index


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_leave_one_out_uses_only_sibling_phrasings() -> None:
    vectors = np.stack([unit(1, 0), unit(1, 0.1), unit(0, 1), unit(0.1, 1), unit(1, 1)])
    scores = leave_one_out_scores(vectors, ["a", "a", "b", "b", "c"])
    assert scores.shape == (4,)  # "c" has no sibling: it cannot play a held-out question
    assert np.allclose(scores, [unit(1, 0) @ unit(1, 0.1)] * 2 + [unit(0, 1) @ unit(0.1, 1)] * 2)


def test_threshold_is_a_low_quantile_and_none_without_alternates() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"e{i // 4}" for i in range(200)]
    scores = leave_one_out_scores(vectors, ids)
    threshold = calibrate_threshold(vectors, ids, quantile=0.05)
    assert abs(np.mean(scores >= threshold) - 0.95) < 0.02
    assert calibrate_threshold(vectors[:3], ["a", "b", "c"]) is None


def test_the_manifest_records_the_calibrated_threshold(tmp_path: Path, repository, embedder, shop_entries) -> None:
    repository.upsert(shop_entries)
    manifest = sync_index(repository, IndexStore(tmp_path / "index"), embedder)
    assert manifest.answer_threshold is not None and 0.0 < manifest.answer_threshold < 0.9


def test_auto_picks_the_multilingual_model_for_non_english_entries() -> None:
    english = Entry("a", "Where is my order?", "In transit.", language="en")
    unmarked_chinese = Entry("b", "我的订单在哪里？", "运输中。")
    assert choose_embedding_model("auto", [english]) == ENGLISH_EMBEDDER
    assert choose_embedding_model("auto", [english, unmarked_chinese]) == MULTILINGUAL_EMBEDDER
    assert choose_embedding_model("auto", [Entry("c", "Où est ma commande ?", "En route.", language="fr")]) \
        == MULTILINGUAL_EMBEDDER
    assert choose_embedding_model("my/model", [unmarked_chinese]) == "my/model"
