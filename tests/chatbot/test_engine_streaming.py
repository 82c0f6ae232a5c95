"""The engine streams a generated answer sentence by sentence, each checked before it leaves:
the customer never sees a sentence that failed, and the logged answer is exactly what was shown.

Real embedder, real SQLite; the generator's text is scripted where exactly known text is the
point, and the shipped SmolLM2 writes a long answer in the slow test.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faq_services import services_with_faq
from scripted_generator import ScriptedGenerator

from chatbot.engine import ChatEngine
from chatbot.generators.base import Generator, GeneratorError
from chatbot.messages import Reply
from chatbot.services import DEMO_KB, Services
from chatbot.stages.release import SEPARATOR

FAQ = """id,question,alternates,answer,language
returns,Can I return an item?,What is your return policy?,You can return items within 30 days of delivery. Refunds reach your card within 5 business days.,en
express,How fast is express shipping?,express delivery|next-day delivery,Express shipping arrives in 1-2 business days for $14.99.,en
"""
EXPRESS = "Express shipping arrives in 1-2 business days for $14.99."


class DroppingGenerator(ScriptedGenerator):
    """A backend whose connection drops midway: `GeneratorError`, as the remote backend raises."""

    def failure(self, message: str) -> Exception:
        return GeneratorError(f"connection reset ({message})")


@pytest.fixture
def services(chatbot_home: Path) -> Services:
    return services_with_faq(chatbot_home, FAQ)


def engine_with(services: Services, generator: Generator) -> ChatEngine:
    return ChatEngine(services.settings, services.retriever, generator, services.conversations)


def streamed(engine: ChatEngine, question: str) -> tuple[list[str], Reply]:
    *pieces, reply = engine.stream(None, question)
    assert isinstance(reply, Reply) and all(isinstance(p, str) for p in pieces)
    return pieces, reply


def logged(services: Services, reply: Reply):
    return services.conversations.get_transcript(reply.conversation_id).messages[-1]


def test_a_faithful_answer_arrives_sentence_by_sentence(services: Services) -> None:
    generator = ScriptedGenerator("Express shipping takes 1-2 business days [1]. Express delivery is $14.99.")
    pieces, reply = streamed(engine_with(services, generator), "How fast is express shipping?")
    assert pieces == ["Express shipping takes 1-2 business days [1].", " Express delivery is $14.99."]
    assert reply.answer == "".join(pieces) and reply.grounding.grounded and reply.replaced_answer == ""
    assert [c.entry_id for c in reply.citations] == ["express"]
    assert logged(services, reply).content == reply.answer


def test_a_second_sentence_with_an_unsupported_number_is_never_seen(services: Services) -> None:
    generator = ScriptedGenerator("Express shipping takes 1-2 business days [1]. Express is $9.99 [1]. "
                                  "Order before noon.")
    pieces, reply = streamed(engine_with(services, generator), "How fast is express shipping?")
    assert pieces == ["Express shipping takes 1-2 business days [1].", SEPARATOR + EXPRESS]
    assert not any("9.99" in piece for piece in pieces)
    assert reply.answer == "".join(pieces)  # what the customer saw, exactly
    assert reply.replaced_answer == "Express is $9.99 [1]. Order"
    assert generator.words_given == 12  # the model was stopped right after the failing sentence
    assert [c.entry_id for c in reply.citations] == ["express"]
    message = logged(services, reply)
    assert message.content == reply.answer  # the log holds what was shown, not what was written
    trace = message.trace
    assert trace.grounded is False and trace.grounding_reasons == ["number 9.99 is not in the cited entries"]
    assert trace.replaced_answer == reply.replaced_answer and trace.generator == "scripted"
    assert {"generate", "ground"} <= set(trace.timings)
    assert services.conversations.history(reply.conversation_id, 1)[-1].content == reply.answer


def test_the_best_entry_cites_itself_after_sentences_from_another(services: Services) -> None:
    # The first sentence is checked against entry [2] (the prompt's second entry); the answer
    # that replaces the rest is entry [1]'s, which the sources then list too.
    generator = ScriptedGenerator("You can return items within 30 days [2]. Returns cost $3 [2].")
    pieces, reply = streamed(engine_with(services, generator), "How fast is express shipping?")
    returns_number = 1 + [h.entry.id for h in reply.hits].index("returns")
    assert returns_number == 2 and pieces[0] == "You can return items within 30 days [2]."
    assert pieces[1] == SEPARATOR + EXPRESS
    assert [(c.number, c.entry_id) for c in reply.citations] == [(1, "express"), (2, "returns")]


def test_a_backend_that_drops_midway_keeps_the_checked_sentences(services: Services) -> None:
    generator = DroppingGenerator("Express shipping takes 1-2 business days [1]. It costs $14.99.", fail_after=9)
    pieces, reply = streamed(engine_with(services, generator), "How fast is express shipping?")
    assert pieces == ["Express shipping takes 1-2 business days [1].", SEPARATOR + EXPRESS]
    assert reply.answer == "".join(pieces) and reply.replaced_answer == "It costs"
    assert reply.generator.startswith("scripted, then extractive (fallback: connection reset")
    assert logged(services, reply).trace.grounding_reasons[0].startswith("generator failed: connection reset")


def test_a_customer_who_leaves_stops_the_model(services: Services) -> None:
    generator = ScriptedGenerator("Express shipping takes 1-2 business days [1]. It costs $14.99. "
                                  "Order before noon for delivery tomorrow.")
    events = engine_with(services, generator).stream(None, "How fast is express shipping?")
    assert next(events) == "Express shipping takes 1-2 business days [1]."
    events.close()  # the page was closed: the rest is never written
    assert generator.words_given == 8  # "It" showed that the first sentence was complete


def test_the_extractive_generator_answers_in_one_piece(services: Services) -> None:
    pieces, reply = streamed(services.engine, "Can I return an item?")
    assert pieces == ["You can return items within 30 days of delivery. Refunds reach your card within "
                      "5 business days."]
    assert reply.grounding.grounded and reply.answer == pieces[0]


# ---- the shipped SmolLM2 (slow: several seconds per answer on a busy 2-core CPU) ----

@pytest.mark.slow
def test_smollm2_streams_a_long_answer_in_more_than_one_piece(chatbot_home: Path) -> None:
    # The demo KB as `bench/bench_streaming.py` runs it (its embedder is the multilingual one).
    services = services_with_faq(chatbot_home, generator="local", device="cpu")
    services.import_files([DEMO_KB])
    started = time.perf_counter()
    events = services.engine.stream(None, "Can I swap these shoes for a bigger size?")
    first = next(events)
    first_s = time.perf_counter() - started
    *rest, reply = events
    pieces = [first, *rest]
    assert reply.answer == "".join(pieces) and len(pieces) >= 2, pieces
    assert reply.grounding.grounded, (reply.answer, reply.grounding.reasons, reply.replaced_answer)
    assert first_s < 0.9 * (time.perf_counter() - started)  # the first sentence came well before the last
