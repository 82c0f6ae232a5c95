"""The head's out-of-scope class: questions staff labelled out of scope teach the head where such
questions lie, calibration scores them with heads that did not learn them, and no search ever
returns the class as an entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge_base.entries import Entry
from knowledge_base.retrieval.entry_head import (MIN_OUT_OF_SCOPE_ROWS, OUT_OF_SCOPE, entry_max_cosine,
                                                 fit_entry_head, out_of_scope_folds, rows_by_head)

DEMO_KB = Path(__file__).resolve().parents[3] / "knowledge_base" / "demo" / "shop_faq.jsonl"
# Questions a shop's customers ask that its FAQ does not answer (staff labelled them out of scope).
OFF_TOPIC = [
    "what's the weather like tomorrow", "will it rain this weekend", "who won the football match",
    "what is the capital of Mongolia", "tell me a joke", "how tall is mount everest",
    "recommend a good movie", "what time is it in Tokyo", "how do I bake sourdough bread",
    "who is the president of France", "what's a good name for a cat", "explain quantum physics",
    "how many planets are in the solar system", "translate hello into Japanese",
    "what is the meaning of life", "best pizza place near me", "how do I fix my bicycle chain",
    "what's the score of the basketball game", "write me a poem about autumn", "how old is the universe",
    "when is the next solar eclipse", "what should I cook for dinner", "how far is the moon",
    "who painted the Mona Lisa",
]
UNSEEN_OFF_TOPIC = ["is it going to snow on monday", "who scored in yesterday's hockey game",
                    "suggest a recipe for lasagne"]


@pytest.fixture(scope="module")
def shop(embedder) -> tuple[list[Entry], np.ndarray, np.ndarray, np.ndarray]:
    from knowledge_base.importers.readers import read_file

    entries = [e for e in read_file(DEMO_KB).entries if e.language == "en"]
    ids = np.array([e.id for e in entries for _ in e.phrasings])
    vectors = embedder.encode([t for e in entries for t in e.phrasings])
    return entries, vectors, ids, embedder.encode(OFF_TOPIC)


def test_enough_labels_make_a_class_that_takes_off_topic_mass(shop, embedder) -> None:
    _, vectors, ids, outside = shop
    plain = fit_entry_head(vectors, ids)
    learnt = fit_entry_head(vectors, ids, out_of_scope=outside)
    assert not plain.has_out_of_scope and learnt.has_out_of_scope
    assert not fit_entry_head(vectors, ids, out_of_scope=outside[:MIN_OUT_OF_SCOPE_ROWS - 1]).has_out_of_scope
    unseen = embedder.encode(UNSEEN_OFF_TOPIC)
    best_entry = lambda head: np.delete(head.probabilities(unseen), head.column.get(OUT_OF_SCOPE, []), 1).max(1)
    # New off-topic questions: the class takes their mass, no entry keeps as much as before.
    assert (best_entry(learnt) < best_entry(plain)).all()
    assert (learnt.probabilities(unseen)[:, learnt.column[OUT_OF_SCOPE]] > 0.5).all()
    # In-scope phrasings still belong to their entries.
    top = np.asarray(learnt.classes)[learnt.probabilities(vectors).argmax(1)]
    assert (top == ids).mean() > 0.95
    # The class is never ranked as an entry: it has no phrasing, its cosine is -inf.
    assert np.isneginf(entry_max_cosine(unseen, vectors, ids, learnt.classes)[:, learnt.column[OUT_OF_SCOPE]]).all()


def test_folds_hold_each_label_out_once_and_score_it_as_new(shop) -> None:
    _, vectors, ids, outside = shop
    head = fit_entry_head(vectors, ids, out_of_scope=outside)
    folds = out_of_scope_folds(vectors, ids, outside, init=head)
    rows = np.sort(np.concatenate([r for r, _ in folds]))
    assert rows.tolist() == list(range(len(OFF_TOPIC)))  # every label held out exactly once
    groups = rows_by_head(len(OFF_TOPIC) + 2, head, folds)
    assert sorted(np.concatenate([r for r, _ in groups]).tolist()) == list(range(len(OFF_TOPIC) + 2))
    # A head that learnt a question is surer it is out of scope than one that did not.
    column = head.column[OUT_OF_SCOPE]
    for fold_rows, fold_head in folds:
        learnt = head.probabilities(outside[fold_rows])[:, column].mean()
        held = fold_head.probabilities(outside[fold_rows])[:, fold_head.column[OUT_OF_SCOPE]].mean()
        assert held < learnt


def test_a_snapshot_learns_the_class_from_its_labels_and_never_returns_it(tmp_path: Path, shop, embedder) -> None:
    from knowledge_base.index.writer import IndexStore
    from knowledge_base.retrieval.calibration import CalibrationInputs
    from knowledge_base.retrieval.retriever import Retriever

    entries = shop[0]
    labels = [(text, None) for text in OFF_TOPIC] + [("where is my parcel", "shipping-time")
                                                     if any(e.id == "shipping-time" for e in entries) else
                                                     (entries[0].question + "?", entries[0].id)]
    inputs = CalibrationInputs(0.05, labels, clarify_target=0.05)
    manifest = IndexStore(tmp_path / "kb").rebuild(entries, 1, embedder, calibration=inputs)
    assert manifest.entry_head and manifest.calibration["out_of_scope_labels"] == len(OFF_TOPIC)
    retriever = Retriever(IndexStore(tmp_path / "kb"), embedder)
    assert retriever.snapshot().head.has_out_of_scope
    for question in UNSEEN_OFF_TOPIC:
        hits = retriever.search(question, k=5)
        assert hits and all(hit.entry.id != OUT_OF_SCOPE for hit in hits)
        assert hits[0].score < manifest.answer_threshold  # abstained on
    # An in-scope question is still answered with its entry.
    entry = entries[0]
    hit = retriever.search(entry.alternates[0] if entry.alternates else entry.question, k=1)[0]
    assert hit.entry.id == entry.id and hit.score >= manifest.answer_threshold
