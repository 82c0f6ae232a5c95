"""The chat page's handlers over real services (the shipped embedder, a real SQLite file, the
extractive generator), called as Gradio calls them, and its rendering. The page itself in a real
browser: tests/ui/test_chat_page_e2e.py."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from faq_services import SHOP_FAQ

from chatbot.conversations.visitors import new_visitor_token
from chatbot.messages import Citation, Option, Reply
from chatbot.services import Services
from ui.chat.app import build_chat_app
from ui.chat.handlers import ChatHandlers
from ui.chat.rendering import NONE_OF_THESE, customer_text, escape_markdown, render_reply, reply_options, sources_footer
from ui.chat.words import page_language, words

SHIPPING = Citation(1, "shipping", "How long does shipping take?", 0.81, "https://help.example.com/shipping")


@pytest.fixture
def services(make_services) -> Services:
    return make_services(SHOP_FAQ)


def visitor(language: str = "en-US,en;q=0.9") -> gr.Request:
    """A browser with its visitor cookie, as the page's middleware hands it out."""
    return gr.Request(cookies={"chatbot_visitor": new_visitor_token()}, headers={"accept-language": language})


def text_of(message: dict) -> str:
    """A chat message's text, as the Chatbot component holds it after Gradio's processing."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def last(updates: list) -> tuple:
    return updates[-1]


def test_a_turn_shows_the_question_then_the_answer_with_its_sources(services: Services) -> None:
    chat, browser = ChatHandlers(services, "Acme"), visitor()
    updates = list(chat.send("How long does shipping take?", [], None, "en", {}, browser))
    first_history = updates[0][0]
    assert [m["role"] for m in first_history] == ["user"]  # the typing dots show while it is answered
    history, conversation_id, textbox, turns, _ = last(updates)
    assert textbox == "" and conversation_id
    assert history[0]["content"].startswith("How long does shipping take?")
    assert "<time datetime=" in history[0]["content"]
    answer = history[1]["content"]
    assert answer.startswith("Orders arrive in 3-5 business days") and "Sources: \\[1\\]" in answer
    assert turns == {"1": services.conversations.count_turns()}  # the bot message's turn, for feedback


def test_the_conversation_goes_on_for_its_visitor_only(services: Services) -> None:
    chat, browser = ChatHandlers(services), visitor()
    history, conversation_id, _, turns, _ = last(list(chat.send("Can I pay with PayPal?", [], None, "en", {}, browser)))
    history, again, *_ = last(list(chat.send("What is your return policy?", history, conversation_id, "en",
                                             turns, browser)))
    assert again == conversation_id and len(history) == 4
    assert services.conversations.get_transcript(conversation_id).conversation.turns == 2
    # Another visitor holding the id (a copied page state) gets a conversation of their own.
    _, theirs, *_ = last(list(chat.send("Hello there", [], conversation_id, "en", {}, visitor())))
    assert theirs != conversation_id
    assert services.conversations.get_transcript(conversation_id).conversation.turns == 2


def test_a_reload_shows_the_visitors_conversation_again(services: Services) -> None:
    chat, browser = ChatHandlers(services, "Acme"), visitor("zh-CN,zh;q=0.9")
    *_, (history, conversation_id, *_) = chat.send("How long does shipping take?", [], None, "zh", {}, browser)
    loaded = chat.load(browser)
    chatbot, loaded_id, language, turns, cursor = loaded[:5]
    assert loaded_id == conversation_id and language == "zh" and cursor > 0
    shown = [text_of(m) for m in chatbot.value]
    assert len(shown) == 2 and "How long does shipping take?" in shown[0] and "3-5 business days" in shown[1]
    assert "Sources: \\[1\\]" in shown[1] or "来源: \\[1\\]" in shown[1]  # its sources, as when it was answered
    assert turns == {"1": services.conversations.count_turns()}
    header, textbox, send = loaded[6:9]  # the page's words in the visitor's language
    assert words("zh").online in header and textbox.placeholder == words("zh").input_placeholder
    assert send.value == words("zh").send
    fresh = chat.load(visitor())
    assert fresh[1] is None and fresh[0].value == [] and fresh[0].examples  # greeting and suggestions


def test_customer_markup_and_bad_characters_are_shown_as_typed(services: Services) -> None:
    chat = ChatHandlers(services)
    *_, (history, *_) = chat.send("<img src=x onerror=alert(1)> **hi** \ud800\x00", [], None, "en", {}, visitor())
    shown = history[0]["content"]
    assert shown.startswith("&lt;img src=x onerror=alert\\(1\\)&gt; \\*\\*hi\\*\\* \ufffd\ufffd")
    assert shown.encode("utf-8")  # the page's JSON can carry it


def test_an_empty_textbox_sends_nothing(services: Services) -> None:
    chat = ChatHandlers(services)
    [(history, conversation_id, textbox, *_)] = list(chat.send("   ", [], None, "en", {}, visitor()))
    assert history == [] and conversation_id is None and services.conversations.count_turns() == 0


def test_thumbs_and_a_comment_are_stored_with_the_turn(services: Services) -> None:
    chat, browser = ChatHandlers(services), visitor()
    *_, (history, conversation_id, _, turns, _) = chat.send("Can I pay with PayPal?", [], None, "en", {}, browser)
    [turn_id] = turns.values()
    row, rated = chat.feedback(gr.LikeData(None, {"index": 1, "value": history[1]["content"], "liked": False}),
                               turns, "en", browser)
    assert rated == turn_id and row.visible is True  # a thumbs down asks for a comment
    chat.comment("It did not say if Apple Pay works", rated, "en", browser)
    stored = services.conversations.feedback.of_turn(turn_id)
    assert stored.rating == "down" and stored.comment == "It did not say if Apple Pay works"
    row, _ = chat.feedback(gr.LikeData(None, {"index": 1, "value": "", "liked": True}), turns, "en", browser)
    assert row.visible is False and services.conversations.feedback.of_turn(turn_id).rating == "up"


def test_staff_replies_reach_the_page_by_polling(services: Services) -> None:
    chat, browser = ChatHandlers(services), visitor()
    *_, (history, conversation_id, *_) = chat.send("Can I pay with PayPal?", [], None, "en", {}, browser)
    cursor = services.messages_for_visitor(conversation_id, browser.cookies["chatbot_visitor"]).cursor
    services.staff_reply(conversation_id, "Alice", "Hi, this is *Alice*.")
    shown, cursor_after, timer, _ = chat.poll(history, conversation_id, cursor, "en", browser)
    assert len(shown) == len(history) + 1 and cursor_after > cursor
    assert "**Alice**" in shown[-1]["content"] and "Hi, this is \\*Alice\\*\\." in shown[-1]["content"]
    assert timer.active is True  # a human holds it: keep polling
    services.release_conversation(conversation_id)
    again, _, timer, _ = chat.poll(shown, conversation_id, cursor_after, "en", browser)
    assert timer.active is False


def test_the_page_api_endpoint_answers_and_continues(services: Services) -> None:
    chat = ChatHandlers(services)
    answer, conversation_id, sources = chat.chat("How long does shipping take?")
    assert answer.startswith("Orders arrive") and sources[0]["id"] == "shipping-time"
    assert chat.chat("Can I pay with PayPal?", conversation_id)[1] == conversation_id
    assert chat.chat("Can I pay with PayPal?", "0" * 32)[1] != "0" * 32  # unknown: a new one


def test_app_publishes_only_the_chat_endpoint_with_three_outputs(services: Services) -> None:
    demo = build_chat_app(services, title="Acme Help")
    api = demo.get_api_info()
    assert list(api["named_endpoints"]) == ["/chat"]
    endpoint = api["named_endpoints"]["/chat"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["message", "conversation_id"]
    assert len(endpoint["returns"]) == 3
    assert demo.title == "Acme Help"


@pytest.mark.parametrize("header, language", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("fr-FR,fr;q=0.9,zh;q=0.5", "zh"),
    ("de-DE", "en"), (None, "en"), ("en;q=0.2, zh-TW;q=0.8", "zh"), ("zh;q=abc", "en"),
])
def test_page_language_follows_accept_language(header: str | None, language: str) -> None:
    assert page_language(header) == language


def test_escape_markdown_makes_markup_literal() -> None:
    assert escape_markdown("[x](javascript:alert(1)) <b>") == "\\[x\\]\\(javascript:alert\\(1\\)\\) &lt;b&gt;"
    assert customer_text("a & b > c") == "a &amp; b &gt; c"


def test_sources_link_only_http_urls_and_speak_the_answers_language() -> None:
    footer = sources_footer([
        SHIPPING,
        Citation(2, "returns", "Returns [policy]", 0.6, "javascript:alert(1)"),
        Citation(3, "pay", "Paying", 0.55, "https://x.example/a (b)"),
    ])
    assert footer.startswith("<small>Sources: ")
    assert "[How long does shipping take?](https://help.example.com/shipping)" in footer
    assert "\\[2\\] Returns \\[policy\\]" in footer and "javascript" not in footer
    assert "(https://x.example/a%20%28b%29)" in footer
    assert sources_footer([]) == ""
    assert sources_footer([SHIPPING], "zh").startswith("<small>来源: ")


def test_a_clarification_renders_its_options_as_buttons_and_none_of_these() -> None:
    reply = Reply("c1", "Did you mean…?", False, "zh", [], 0.5, "clarify", 1, action="clarify",
                  options=[Option("a", "<b>A</b>?"), Option("b", "B?")])
    assert reply_options(reply) == [{"value": "a", "label": "<b>A</b>?"}, {"value": "b", "label": "B?"},
                                    {"value": NONE_OF_THESE, "label": words("zh").none_of_these}]
    assert reply_options(Reply("c1", "Hello.", False, "en", [SHIPPING], 0.9, "x", 1)) == []


def test_render_reply_without_citations_is_the_answer() -> None:
    reply = Reply("c1", "Hello.", True, "en", [], 0.1, "abstain", 1)
    assert render_reply(reply) == "Hello."


def test_handlers_need_no_more_than_services() -> None:
    # The page's handlers reach the product only through the application object.
    chat = ChatHandlers(SimpleNamespace(), "Acme")
    assert chat.new_conversation()[:5] == ([], None, "", {}, 0)
