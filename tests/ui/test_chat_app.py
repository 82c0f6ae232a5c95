"""The chat page's handlers and rendering, with a scripted engine (no model, no database)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from chatbot.errors import DatabaseUnavailable, InvalidConversation, InvalidInput
from chatbot.messages import Citation, Reply
from ui.chat.app import UNAVAILABLE, ChatHandlers, build_chat_app
from ui.chat.rendering import customer_text, escape_markdown, render_reply, sources_footer

SHIPPING = Citation(1, "shipping", "How long does shipping take?", 0.81, "https://help.example.com/shipping")


class ScriptedEngine:
    """Streams the given pieces, then a Reply citing `citations`; records what it was asked."""

    def __init__(self, pieces=("Orders arrive ", "in 3-5 days."), citations=(SHIPPING,),
                 abstained=False, error: Exception | None = None) -> None:
        self.pieces, self.citations, self.abstained, self.error = pieces, list(citations), abstained, error
        self.calls: list[tuple[str | None, str]] = []

    def stream(self, conversation_id, text):
        self.calls.append((conversation_id, text))
        if self.error:
            raise self.error
        yield from self.pieces
        yield Reply(conversation_id or "c1", "".join(self.pieces), self.abstained, "en",
                    self.citations, 0.81, "scripted", 3)

    def respond(self, conversation_id, text):
        *_, reply = self.stream(conversation_id, text)
        return reply


def handlers(**engine) -> tuple[ChatHandlers, ScriptedEngine]:
    scripted = ScriptedEngine(**engine)
    return ChatHandlers(SimpleNamespace(engine=scripted)), scripted


def test_send_streams_the_answer_into_the_last_message_then_adds_sources() -> None:
    chat, engine = handlers()
    updates = list(chat.send("How long is shipping?", [], None))
    contents = [history[-1]["content"] for history, _, _ in updates]
    assert contents[:3] == ["", "Orders arrive ", "Orders arrive in 3-5 days."]
    final, conversation_id, textbox = updates[-1]
    assert conversation_id == "c1" and textbox == ""
    assert final[0] == {"role": "user", "content": "How long is shipping?"}
    assert final[1]["role"] == "assistant"
    assert final[1]["content"].startswith("Orders arrive in 3-5 days.\n\n<small>Sources: \\[1\\] ")
    assert "(https://help.example.com/shipping)" in final[1]["content"]
    assert engine.calls == [(None, "How long is shipping?")]


def test_send_keeps_the_conversation_id_of_the_session() -> None:
    chat, engine = handlers()
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    *_, (history, conversation_id, _) = chat.send("And returns?", earlier, "c1")
    assert engine.calls == [("c1", "And returns?")]
    assert conversation_id == "c1" and len(history) == 4 and earlier[-1]["content"] == "hello"


def test_send_ignores_an_empty_textbox() -> None:
    chat, engine = handlers()
    assert list(chat.send("   ", [], "c1")) == [([], "c1", "")]
    assert engine.calls == []


def test_send_shows_customer_markup_as_typed_text() -> None:
    chat, _ = handlers()
    *_, (history, _, _) = chat.send("<script>alert(1)</script> **hi**", [], None)
    shown = history[0]["content"]
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "\\*\\*hi\\*\\*" in shown


def test_send_shows_a_lone_surrogate_or_nul_as_a_replacement_character() -> None:
    # The page's JSON (orjson) cannot carry a lone surrogate: it is shown as it is logged.
    chat, engine = handlers()
    *_, (history, _, _) = chat.send("Where is my order? \ud800\x00", [], None)
    assert history[0]["content"] == "Where is my order? \ufffd\ufffd"
    assert history[0]["content"].encode("utf-8") and engine.calls == [(None, "Where is my order? \ud800\x00")]


def test_abstention_is_shown_as_is_without_sources() -> None:
    offer = "I'm sorry, I couldn't find that. Would you like me to connect you with our support team?"
    chat, _ = handlers(pieces=(offer,), citations=(), abstained=True)
    *_, (history, _, _) = chat.send("What's the capital of Peru?", [], None)
    assert history[-1]["content"] == offer


def test_send_says_sorry_when_the_database_is_down() -> None:
    chat, _ = handlers(error=DatabaseUnavailable("Database unavailable: sqlite:///x.db"))
    *_, (history, conversation_id, _) = chat.send("Where is my order?", [], "c1")
    assert history[-1] == {"role": "assistant", "content": UNAVAILABLE} and conversation_id == "c1"


def test_new_conversation_clears_the_chat_and_forgets_the_id() -> None:
    assert ChatHandlers.new_conversation() == ([], None, "")


def test_chat_api_returns_answer_conversation_id_and_sources() -> None:
    chat, engine = handlers()
    assert chat.chat("How long is shipping?", "") == (
        "Orders arrive in 3-5 days.", "c1",
        [{"id": "shipping", "question": "How long does shipping take?", "score": 0.81}])
    assert engine.calls == [(None, "How long is shipping?")]


@pytest.mark.parametrize("error, shown", [
    (DatabaseUnavailable("down"), UNAVAILABLE),
    (InvalidInput("The text cannot be stored: it holds U+D800"), "The text cannot be stored"),
])
def test_chat_api_errors_are_clear(error: Exception, shown: str) -> None:
    chat, _ = handlers(error=error)
    with pytest.raises(gr.Error, match=shown[:20]):
        chat.chat("hi", "c1")


class ForgetfulEngine(ScriptedEngine):
    """Knows no conversation id but the ones it issues itself (as after a database reset)."""

    def stream(self, conversation_id, text):
        if conversation_id is not None:
            self.calls.append((conversation_id, text))
            raise InvalidConversation("No conversation has the id 'c1'.")
        yield from super().stream(None, text)


def test_a_stale_conversation_id_starts_a_fresh_conversation() -> None:
    engine = ForgetfulEngine()
    chat = ChatHandlers(SimpleNamespace(engine=engine))
    *_, (history, conversation_id, _) = chat.send("Where is my order?", [], "stale")
    assert engine.calls == [("stale", "Where is my order?"), (None, "Where is my order?")]
    assert conversation_id == "c1" and history[-1]["content"].startswith("Orders arrive in 3-5 days.")
    assert chat.chat("Where is my order?", "stale")[1] == "c1"


def test_app_publishes_only_the_chat_endpoint_with_three_outputs() -> None:
    demo = build_chat_app(SimpleNamespace(engine=ScriptedEngine()), title="Acme Help")
    api = demo.get_api_info()
    assert list(api["named_endpoints"]) == ["/chat"]
    endpoint = api["named_endpoints"]["/chat"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["message", "conversation_id"]
    assert len(endpoint["returns"]) == 3
    assert demo.title == "Acme Help"


def test_escape_markdown_makes_markup_literal() -> None:
    assert escape_markdown("[x](javascript:alert(1)) <b>") == "\\[x\\]\\(javascript:alert\\(1\\)\\) &lt;b&gt;"
    assert customer_text("a & b > c") == "a &amp; b &gt; c"


def test_sources_link_only_http_urls() -> None:
    footer = sources_footer([
        SHIPPING,
        Citation(2, "returns", "Returns [policy]", 0.6, "javascript:alert(1)"),
        Citation(3, "pay", "Paying", 0.55, "https://x.example/a (b)"),
    ])
    assert "[How long does shipping take?](https://help.example.com/shipping)" in footer
    assert "\\[2\\] Returns \\[policy\\]" in footer and "javascript" not in footer
    assert "(https://x.example/a%20%28b%29)" in footer
    assert sources_footer([]) == ""


def test_render_reply_without_citations_is_the_answer() -> None:
    reply = Reply("c1", "Hello.", True, "en", [], 0.1, "abstain", 1)
    assert render_reply(reply) == "Hello."
