"""Staff labels on logged turns reach the answer threshold: engine -> log -> label -> calibrate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.evaluation.run import evaluate
from chatbot.services import DEMO_KB, build_services
from chatbot.settings import Settings
from chatbot.conversations.labels import UnknownEntry, UnknownTurn

# Questions about other shops and services that the untuned model scores like the demo shop's
# own entries (its shipping-times, gift-card and tracking phrasings).
OUT_OF_SCOPE = ["How long does shipping take on eBay?", "Do you sell Apple gift cards?",
                "How do I track my order from a different shop?"]


@pytest.mark.slow
def test_out_of_scope_labels_on_logged_turns_raise_the_threshold(chatbot_home: Path, tmp_path: Path) -> None:
    english = tmp_path / "faq_en.jsonl"  # the demo's 67 English entries: 402 phrasings, MiniLM
    english.write_text("".join(line + "\n" for line in DEMO_KB.read_text(encoding="utf-8").splitlines()
                               if json.loads(line)["language"] == "en"), encoding="utf-8")
    services = build_services(Settings(home=chatbot_home, generator="extractive", target_wrong_rate=0.05,
                                        entry_head="off"))  # cosine scores: the mechanism, plainly)
    services.import_files([english])
    before = services.index_store.read_manifest()
    assert before.calibration["rule"] == "target" and before.calibration["labelled_turns"] == 0

    replies = [services.engine.respond(None, text) for text in OUT_OF_SCOPE]
    assert sum(not r.abstained for r in replies) >= 2  # the bot answers them: wrong answers
    turns = services.conversations.recent_turns(limit=3)[::-1]
    for turn in turns:
        services.label_turn(turn.turn_id, None, labelled_by="test")
    with pytest.raises(UnknownEntry):
        services.label_turn(turns[0].turn_id, "no-such-entry")
    with pytest.raises(UnknownTurn):
        services.label_turn(10_000, "orders-track")
    assert [(t.query, t.expected_id) for t in services.conversations.labelled_turns()] == \
        [(text, None) for text in OUT_OF_SCOPE]

    after = services.calibrate_index()
    assert after.kb_version == before.kb_version and after.snapshot != before.snapshot
    assert after.calibration["out_of_scope_labels"] == 3 and after.calibration["rule"] == "target"
    assert after.answer_threshold > before.answer_threshold
    assert after.calibration["wrong_rate"] <= 0.05
    assert all(services.engine.respond(None, text).abstained for text in OUT_OF_SCOPE)

    # An import later calibrates the updated snapshot with the labels too.
    more = tmp_path / "more.csv"
    more.write_text("id,question,answer\nstore-pickup,Can I pick up my order in a store?,No.\n", encoding="utf-8")
    services.import_files([more])
    updated = services.index_store.read_manifest()
    assert updated.kb_version == after.kb_version + 1 and updated.calibration["out_of_scope_labels"] == 3

    testset = tmp_path / "testset.jsonl"
    testset.write_text("".join(json.dumps({"query": q, "expected_id": None}) + "\n" for q in OUT_OF_SCOPE))
    metrics = evaluate(services.engine, testset)
    assert metrics["answer_rate"] == 0.0 and metrics["threshold_rule"] == "target"


def test_the_caller_chooses_the_quantile_by_whether_the_model_was_tuned(chatbot_home: Path, tmp_path: Path) -> None:
    from knowledge_base.embedding.tuning import TUNING_FILE
    from knowledge_base.retrieval.calibration import DEFAULT_QUANTILE, TUNED_QUANTILE

    services = build_services(Settings(home=chatbot_home, generator="extractive", target_wrong_rate=0.1))
    plain = services.calibration_inputs("all-MiniLM-L6-v2")
    assert (plain.quantile, plain.target_wrong_rate, list(plain.labelled)) == (DEFAULT_QUANTILE, 0.1, [])
    tuned = tmp_path / "tuned"  # a model folder as `index tune` leaves it: its record names its base
    tuned.mkdir()
    (tuned / TUNING_FILE).write_text(json.dumps({"base_model": "all-MiniLM-L6-v2"}))
    assert services.calibration_inputs(str(tuned)).quantile == TUNED_QUANTILE
