"""The bot's decisions beyond answer/abstain, end to end on the demo KB with the real embedder
and a real SQLite file: small talk, asking for a human, "Did you mean …?" and the choice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server

from chatbot.engine import ChatEngine
from chatbot.errors import InvalidInput
from chatbot.evaluation.run import evaluate
from chatbot.services import DEMO_KB, Services
from ui.server import create_app

AMBIGUOUS = "I have a problem with my order"  # the demo KB has several order entries near it


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("actions")) as home:
        yield services_with_faq(home, DEMO_KB.read_text(encoding="utf-8"), filename="faq.jsonl")


def decisions(services: Services, conversation_id: str) -> list[str]:
    transcript = services.conversations.get_transcript(conversation_id)
    return [m.trace.decision for m in transcript.messages if m.role == "assistant"]


@pytest.mark.parametrize("text, language", [("hi", "en"), ("Thanks a lot!", "en"), ("bye", "en"),
                                            ("你好", "zh"), ("谢谢！", "zh"), ("再见", "zh")])
def test_small_talk_is_answered_briefly_never_abstained(services: Services, text: str, language: str) -> None:
    reply = services.engine.respond(None, text)
    assert reply.kind == "smalltalk" and not reply.abstained and reply.citations == []
    assert reply.language == language and "couldn't find" not in reply.answer and "没有找到" not in reply.answer
    assert decisions(services, reply.conversation_id) == ["smalltalk"]


def test_a_greeting_with_a_question_answers_the_question(services: Services) -> None:
    reply = services.engine.respond(None, "hi, how long does shipping take?")
    assert reply.kind == "answer" and reply.citations


@pytest.mark.parametrize("text", ["agent", "I want to talk to a human", "转人工"])
def test_asking_for_a_human_hands_off(services: Services, text: str) -> None:
    reply = services.engine.respond(None, text)
    assert reply.kind == "handoff" and reply.abstained
    assert "support team" in reply.answer or "人工客服" in reply.answer
    assert decisions(services, reply.conversation_id) == ["handoff"]


def test_yes_after_the_offer_hands_off_and_no_gets_what_else(services: Services) -> None:
    engine = services.engine
    offer = engine.respond(None, "What is the capital of Peru?")
    assert offer.kind == "abstain"
    assert engine.respond(offer.conversation_id, "yes please").kind == "handoff"
    again = engine.respond(None, "今天天气怎么样？")
    assert again.kind == "abstain"
    declined = engine.respond(again.conversation_id, "不用了")
    assert declined.kind == "smalltalk" and declined.language == "zh" and not declined.abstained
    assert decisions(services, again.conversation_id) == ["abstain", "smalltalk"]


def test_yes_without_an_offer_is_no_hand_off(services: Services) -> None:
    answered = services.engine.respond(None, "How long does shipping take?")
    assert services.engine.respond(answered.conversation_id, "yes").kind == "smalltalk"


def test_an_unsure_question_is_clarified_and_a_choice_answers_it_and_labels_it(services: Services) -> None:
    engine = services.engine
    clarified = engine.respond(None, AMBIGUOUS)
    assert clarified.kind == "clarify" and not clarified.abstained and clarified.citations == []
    ids = [o.entry_id for o in clarified.options]
    assert 2 <= len(ids) <= 3 and len(set(ids)) == len(ids)
    assert all(o.question for o in clarified.options)
    turn = services.conversations.last_turn(clarified.conversation_id)
    assert turn.decision == "clarify" and turn.entry_ids == ids
    chosen = ids[-1]
    answer = engine.respond(clarified.conversation_id, "", choice=chosen)
    assert answer.kind == "answer" and [c.entry_id for c in answer.citations] == [chosen]
    assert answer.answer == services.knowledge_base.get(chosen).answer
    [label] = [t for t in services.conversations.labelled_turns() if t.turn_id == turn.turn_id]
    assert label.expected_id == chosen and label.label.labelled_by == "customer"
    transcript = services.conversations.get_transcript(clarified.conversation_id)
    assert transcript.messages[2].content == clarified.options[-1].question  # the choice, as the customer saw it


def test_none_of_these_offers_a_human(services: Services) -> None:
    clarified = services.engine.respond(None, AMBIGUOUS)
    none = services.engine.respond(clarified.conversation_id, "", choice="none")
    assert none.kind == "abstain" and none.abstained and "support team" in none.answer
    assert services.engine.respond(clarified.conversation_id, "yes").kind == "handoff"


def test_a_choice_that_was_not_offered_is_invalid_input(services: Services) -> None:
    clarified = services.engine.respond(None, AMBIGUOUS)
    offered = {o.entry_id for o in clarified.options}
    other = next(e.id for e in services.knowledge_base.list_entries() if e.id not in offered)
    with pytest.raises(InvalidInput, match="not an option"):
        services.engine.respond(clarified.conversation_id, "", choice=other)
    with pytest.raises(InvalidInput, match="no clarification"):
        services.engine.respond(None, "", choice=next(iter(offered)))


def test_clarification_off_answers_or_abstains(services: Services) -> None:
    settings = services.settings.model_copy(update={"clarify": False})
    engine = ChatEngine(settings, services.retriever, services.generator, services.conversations)
    assert engine.band.clarify == engine.band.answer == engine.answer_threshold and engine.band.margin == 0
    assert engine.respond(None, AMBIGUOUS).kind in ("answer", "abstain")


def test_the_band_is_calibrated_into_the_manifest(services: Services) -> None:
    band = services.index_store.read_manifest().clarify
    assert band["rule"] == "target" and band["target_wrong_rate"] == services.settings.clarify_target_wrong_rate
    assert band["clarify"] <= band["answer"] and band["answer"] >= services.engine.answer_threshold
    assert band["wrong_rate"] <= band["target_wrong_rate"]


def test_eval_reports_clarify_resolved_and_wrong_answer_rates(services: Services, tmp_path: Path) -> None:
    cases = [{"query": AMBIGUOUS, "expected_id": services.engine.respond(None, AMBIGUOUS).options[0].entry_id},
             {"query": "How long does shipping take?", "expected_id": "shipping-times"},
             {"query": "What is the capital of Peru?", "expected_id": None}]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in cases), encoding="utf-8")
    metrics = evaluate(services.engine, path)
    assert metrics["clarify_rate"] == 0.5 and metrics["resolved_rate"] == 1.0
    assert metrics["wrong_answer_rate"] == 0.0 and metrics["answered_accuracy"] == 0.5


def test_api_ask_carries_action_options_and_choice(services: Services) -> None:
    with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=60) as http:
        clarified = http.post("/api/ask", json={"message": AMBIGUOUS}).json()
        assert clarified["action"] == "clarify" and clarified["abstained"] is False
        assert [set(o) for o in clarified["options"]] == [{"id", "question"}] * len(clarified["options"])
        chosen = clarified["options"][0]["id"]
        answer = http.post("/api/ask", json={"message": "", "conversation_id": clarified["conversation_id"],
                                             "choice": chosen}).json()
        assert answer["action"] == "answer" and answer["sources"][0]["id"] == chosen
        bad = http.post("/api/ask", json={"message": "", "conversation_id": clarified["conversation_id"],
                                          "choice": "no-such-entry"})
        assert bad.status_code == 422 and "not an option" in bad.text
        hello = http.post("/api/ask", json={"message": "hello"}).json()
        assert hello["action"] == "smalltalk" and hello["options"] == []
