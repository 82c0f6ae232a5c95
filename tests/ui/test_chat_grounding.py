"""The chat page never shows an answer that failed the grounding check, not even for a moment.

A real engine (shipped embedder, SQLite) whose generator writes a scripted fabrication; the page's
handler is driven directly and every state it would render is inspected.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from faq_services import services_with_faq
from scripted_generator import ScriptedGenerator

from chatbot.conversations.visitors import new_visitor_token
from chatbot.engine import ChatEngine
from ui.chat.handlers import ChatHandlers

FAQ = """id,question,answer
returns,Can I return an item?,You can return items within 30 days of delivery.
express,How fast is express shipping?,Express shipping arrives in 1-2 business days for $14.99.
"""


def handlers_for(home: Path, generated: str) -> ChatHandlers:
    services = services_with_faq(home, FAQ)
    services.engine = ChatEngine(services.settings, services.retriever, ScriptedGenerator(generated),
                                 services.conversations)
    return ChatHandlers(services)


def shown(chat: ChatHandlers, question: str) -> list[str]:
    """What the bot's bubble holds at each update of one turn ("" before it appears)."""
    browser = gr.Request(cookies={"chatbot_visitor": new_visitor_token()}, headers={})
    return [history[-1]["content"] if history[-1]["role"] == "assistant" else ""
            for history, *_ in chat.send(question, [], None, "en", {}, browser)]


def test_a_fabricated_answer_is_never_shown_while_streaming(chatbot_home: Path) -> None:
    chat = handlers_for(chatbot_home, "Returns are free within 90 days, ask for a $20 voucher.")
    states = shown(chat, "Can I return an item?")
    assert states[0] == ""  # the bubble waits while the answer is written and checked
    assert not any("90" in s or "$20" in s for s in states), states
    assert states[-1].startswith("You can return items within 30 days of delivery.\n\n<small>Sources: ")
    answer, _, sources = chat.chat("Can I return an item?")  # the page's API endpoint
    assert answer == "You can return items within 30 days of delivery." and sources[0]["id"] == "returns"


def test_a_grounded_answer_is_shown_with_its_sources(chatbot_home: Path) -> None:
    chat = handlers_for(chatbot_home, "Express shipping costs $14.99 and takes 1-2 business days [1].")
    states = shown(chat, "How fast is express shipping?")
    assert "Express shipping costs $14.99 and takes 1-2 business days [1]." in states
    assert "Express shipping" in states[-1] and "<small>Sources:" in states[-1]


def test_checked_sentences_appear_one_by_one_and_a_failing_one_never(chatbot_home: Path) -> None:
    chat = handlers_for(chatbot_home, "Express shipping takes 1-2 business days [1]. "
                                      "Express shipping is $7.50 [1]. Order by noon.")
    states = shown(chat, "How fast is express shipping?")
    assert "Express shipping takes 1-2 business days [1]." in states  # shown before the rest was written
    assert not any("7.50" in s for s in states), states
    assert states[-1].startswith("Express shipping takes 1-2 business days [1].\n\n"
                                 "Express shipping arrives in 1-2 business days for $14.99.")
