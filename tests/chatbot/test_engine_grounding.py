"""The engine's grounding step: a generated answer that fails the check never reaches the customer;
the extractive answer replaces it and the trace says why.

Real embedder, real SQLite. The fast tests script the generator's text (the point is which text
comes out, so it must be exactly known); the slow ones run the shipped SmolLM2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faq_services import services_with_faq
from scripted_generator import ScriptedGenerator

from chatbot.engine import ChatEngine
from chatbot.generators.base import Generator
from chatbot.messages import Reply
from chatbot.services import Services

FAQ = """id,question,alternates,answer,language
returns,Can I return an item?,What is your return policy?|I want to send something back,You can return items within 30 days of delivery.,en
express,How fast is express shipping?,express delivery|next-day delivery,Express shipping arrives in 1-2 business days for $14.99.,en
password,How do I reset my password?,I forgot my password|can't log in,Use 'Forgot password' on the sign-in page.,en
"""
FAQ_ZH = """id,question,alternates,answer,language
returns-zh,可以退货吗？,退货政策是什么？|我想退回商品,收货后30天内可以退货。,zh
ship-zh,发货需要多长时间？,我的订单什么时候到？|配送时间,标准配送需要3到5个工作日。,zh
"""
RETURNS = "You can return items within 30 days of delivery."


def make_services(home: Path, tmp_path: Path, faq: str = FAQ, **settings) -> Services:
    return services_with_faq(home, faq, **settings)


@pytest.fixture
def services(chatbot_home: Path, tmp_path: Path) -> Services:
    return make_services(chatbot_home, tmp_path)


def engine_with(services: Services, generator: Generator, **settings) -> ChatEngine:
    configured = services.settings.model_copy(update=settings)
    return ChatEngine(configured, services.retriever, generator, services.conversations)


def last_trace(services: Services, reply: Reply):
    transcript = services.conversations.get_transcript(reply.conversation_id)
    return transcript.messages[-1].trace


def test_a_fabricated_number_is_replaced_by_the_extractive_answer(services: Services) -> None:
    engine = engine_with(services, ScriptedGenerator("You can return items within 45 days of delivery."))
    events = list(engine.stream(None, "How long do I have to return an item?"))
    texts, reply = events[:-1], events[-1]
    assert texts == [RETURNS]  # the customer only ever receives the checked text
    assert reply.answer == RETURNS and [c.entry_id for c in reply.citations] == ["returns"]
    assert not reply.grounding.grounded and reply.grounding.unsupported_numbers == ("45",)
    assert reply.replaced_answer == "You can return items within 45 days of delivery."
    trace = last_trace(services, reply)
    assert trace.grounded is False
    assert trace.grounding_reasons == ["number 45 is not in the cited entries"]
    assert trace.replaced_answer == reply.replaced_answer and trace.generator == "scripted"
    assert "ground" in trace.timings
    # The log holds what the customer saw, and the history fed to later turns is that too.
    assert services.conversations.history(reply.conversation_id, 1)[-1].content == RETURNS


def test_a_lone_surrogate_from_the_generator_never_reaches_the_answer(services: Services) -> None:
    # A remote model's JSON may carry "\ud800": no response (UTF-8) nor the log could hold it.
    engine = engine_with(services, ScriptedGenerator("You can return items within 30 days of delivery \ud800"))
    events = list(engine.stream(None, "How long do I have to return an item? \udfff\x00"))
    reply = events[-1]
    assert reply.answer == "You can return items within 30 days of delivery \ufffd"
    assert "".join(events[:-1]) == reply.answer and reply.answer.encode("utf-8")
    user, assistant = services.conversations.get_transcript(reply.conversation_id).messages
    assert (user.content, assistant.content) == ("How long do I have to return an item? \ufffd\ufffd", reply.answer)


def test_a_citation_of_a_missing_entry_is_caught(services: Services) -> None:
    generator = ScriptedGenerator("You can return items within 30 days of delivery [7].")
    reply = engine_with(services, generator).respond(None, "Can I return an item?")
    given = len(generator.requests[0].hits)
    assert reply.answer == RETURNS and reply.grounding.invalid_citations == (7,)
    assert last_trace(services, reply).grounding_reasons == [f"cites [7], but only {given} entries were given"]


def test_a_faithful_answer_passes_and_streams_as_written(services: Services) -> None:
    faithful = "Express shipping takes 1-2 business days and costs $14.99 [1]."
    engine = engine_with(services, ScriptedGenerator(faithful))
    events = list(engine.stream(None, "How fast is express shipping?"))
    reply = events[-1]
    assert "".join(events[:-1]) == reply.answer == faithful
    assert reply.grounding.grounded and reply.replaced_answer == ""
    assert [c.entry_id for c in reply.citations] == ["express"]
    trace = last_trace(services, reply)
    assert trace.grounded is True and trace.grounding_reasons == [] and trace.replaced_answer == ""


def test_extractive_answers_pass_and_abstentions_are_not_checked(services: Services) -> None:
    reply = services.engine.respond(None, "I forgot my password")
    assert reply.grounding.grounded and reply.replaced_answer == ""
    assert last_trace(services, reply).grounded is True
    abstained = services.engine.respond(None, "What is the capital of Peru?")
    assert abstained.abstained and abstained.grounding is None
    assert last_trace(services, abstained).grounded is None


def test_a_prompt_over_the_context_window_falls_back(services: Services) -> None:
    generator = ScriptedGenerator("never used")
    reply = engine_with(services, generator, context_window=64, max_new_tokens=48).respond(None, "Can I return an item?")
    assert generator.requests == []  # nothing was generated
    assert reply.answer == RETURNS and not reply.grounding.grounded
    assert "the prompt does not fit the context window" in last_trace(services, reply).grounding_reasons[0]


def test_the_context_window_setting_reaches_the_prompt(services: Services) -> None:
    generator = ScriptedGenerator(RETURNS)
    engine_with(services, generator, context_window=2048, max_new_tokens=100).respond(None, "Can I return an item?")
    request = generator.requests[0]
    assert (request.context_window, request.max_new_tokens) == (2048, 100)
    assert generator.prompt_budget(request) == 2048 - 100


def test_chinese_answers_are_checked(chatbot_home: Path, tmp_path: Path) -> None:
    # The English embedder keeps this test light; BM25 finds the Chinese entries.
    services = make_services(chatbot_home, tmp_path, FAQ_ZH, embedding_model="all-MiniLM-L6-v2",
                             answer_threshold=-1.0)
    fabricated = engine_with(services, ScriptedGenerator("收货后四十五天内可以退货[1]。")).respond(None, "我想退货")
    assert fabricated.language == "zh" and fabricated.answer == "收货后30天内可以退货。"
    assert last_trace(services, fabricated).grounding_reasons == ["number 45 is not in the cited entries"]
    faithful = engine_with(services, ScriptedGenerator("您可以在收货后三十天内退货[1]。")).respond(None, "我想退货")
    assert faithful.answer == "您可以在收货后三十天内退货[1]。" and faithful.grounding.grounded


# ---- the shipped SmolLM2 (slow: about a minute per answer on a busy 2-core CPU) ----

@pytest.fixture
def local_services(chatbot_home: Path, tmp_path: Path) -> Services:
    return make_services(chatbot_home, tmp_path, generator="local", device="cpu", max_new_tokens=40)


@pytest.mark.slow
def test_smollm2_faithful_answer_passes_and_fabricated_number_is_replaced(local_services: Services) -> None:
    engine = local_services.engine
    faithful = engine.respond(None, "How long do I have to return an item?")
    assert faithful.grounding.grounded, (faithful.answer, faithful.grounding.reasons)
    assert faithful.replaced_answer == "" and "30" in faithful.answer and faithful.answer != RETURNS
    assert last_trace(local_services, faithful).grounded is True

    # The question's own "45" lures the model into a wrong "Yes, … after 45 days"; the entries
    # never say 45.
    events = list(engine.stream(None, "Can I return an item after 45 days?"))
    lured = events[-1]
    assert "45" in lured.replaced_answer, lured.replaced_answer
    assert events[:-1] == [RETURNS] and lured.answer == RETURNS
    trace = last_trace(local_services, lured)
    assert trace.grounded is False and "number 45 is not in the cited entries" in trace.grounding_reasons
    assert trace.generator == "local:smollm2" and trace.replaced_answer == lured.replaced_answer
