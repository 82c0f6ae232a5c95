"""The customer chat page: a Gradio app that streams the engine's answers with their sources.

    >>> demo = build_chat_app(services)                  # a gr.Blocks; ui.server mounts it at /
    >>> Client(url).predict("How long does shipping take?", None, api_name="/chat")
    ('Orders arrive in 3-5 business days.', '3f2a...', [{'id': 'shipping', ...}])

Each browser session keeps its conversation id in a `gr.State`; "New conversation" forgets it,
so the engine starts a fresh conversation at the next message, as it does for an id the server no
longer knows (a stale page, an id a client made up). The handlers only call the engine and render
what it returns.
"""

# No `from __future__ import annotations`: gr.api reads the real type hints of `chat` to
# publish its three outputs.

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from chatbot.errors import DatabaseUnavailable, InvalidConversation, InvalidInput
from chatbot.messages import Reply
from ui.chat.rendering import customer_text, escape_markdown, render_reply
from ui.api.responses import sources_to_json

if TYPE_CHECKING:
    from chatbot.services import Services

DEFAULT_TITLE = "Brightmart Help Center"
# Shown when the database is down: the engine answers no turn that it cannot log.
UNAVAILABLE = ("Sorry, our help center is having a technical problem right now. "
               "Please try again in a few minutes, or contact our support team.")
# Turns answered at once per app; more wait in Gradio's queue. A CPU-bound local model gains
# nothing from more, and the extractive generator answers in milliseconds anyway.
CHAT_CONCURRENCY = 4

History = list[dict[str, Any]]


def chat_theme() -> gr.themes.Base:
    """Gradio's default look with fonts served by the app itself (no font CDN, works offline).

    The semibold Source Sans Pro file that Gradio ships holds only a few glyphs, so headings and
    buttons would mix fonts; declaring 400 and 700 makes semibold text use the complete bold file.
    """
    font = gr.themes.LocalFont("Source Sans Pro", weights=(400, 700))
    return gr.themes.Default(font=[font, "ui-sans-serif", "system-ui", "sans-serif"])


class ChatHandlers:
    """The page's event handlers, kept apart from the layout so they can be tested directly."""

    def __init__(self, services: "Services") -> None:
        self.services = services

    def send(self, message: str, history: History | None,
             conversation_id: str | None) -> Iterator[tuple[History, str | None, str]]:
        """Stream one turn into the chat: yields (chat messages, conversation id, textbox value)."""
        history = list(history or [])
        if not message or not message.strip():
            yield history, conversation_id, ""
            return
        history.append({"role": "user", "content": customer_text(message)})
        shown = ""

        def with_answer() -> History:  # a fresh list each time: Gradio may still hold the last
            return [*history, {"role": "assistant", "content": shown}]

        yield with_answer(), conversation_id, ""
        try:
            for event in self._stream(conversation_id, message):
                if isinstance(event, Reply):
                    shown, conversation_id = render_reply(event), event.conversation_id
                else:
                    shown += event
                yield with_answer(), conversation_id, ""
        except (DatabaseUnavailable, InvalidInput) as error:
            shown = UNAVAILABLE if isinstance(error, DatabaseUnavailable) else error.customer_message
            yield with_answer(), conversation_id, ""

    def _stream(self, conversation_id: str | None, message: str) -> Iterator[str | Reply]:
        """The engine's events for the turn; an id the server does not know (`InvalidConversation`,
        raised before any event) starts a fresh conversation instead."""
        try:
            yield from self.services.engine.stream(conversation_id, message)
        except InvalidConversation:
            if conversation_id is None:
                raise
            yield from self.services.engine.stream(None, message)

    @staticmethod
    def new_conversation() -> tuple[History, None, str]:
        """Clear the chat and forget the conversation id; the next message starts a new one."""
        return [], None, ""

    def chat(self, message: str, conversation_id: str | None = None) -> tuple[str, str, list[dict]]:
        """Answer one turn for API clients: (answer, conversation id, sources).

        Pass the returned conversation id back to continue the same conversation; an empty,
        missing or unknown id starts a new one (its id is returned).
        """
        try:
            *_, reply = self._stream(conversation_id or None, message)
        except DatabaseUnavailable:
            raise gr.Error(UNAVAILABLE) from None
        except InvalidInput as error:
            raise gr.Error(error.customer_message) from None
        assert isinstance(reply, Reply)  # the engine's last event
        return reply.answer, reply.conversation_id, sources_to_json(reply)


def build_chat_app(services: "Services", title: str = DEFAULT_TITLE) -> gr.Blocks:
    """The customer chat page for `services`, titled with the shop's name."""
    handlers = ChatHandlers(services)
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {escape_markdown(title)}")
        conversation_id = gr.State(None)  # one per browser session
        chatbot = gr.Chatbot(
            label="Chat", height=520, sanitize_html=True, render_markdown=True,
            allow_tags=False, feedback_options=None, buttons=["copy"],
            placeholder="Ask a question about orders, shipping, returns or payments.",
        )
        with gr.Row():
            textbox = gr.Textbox(show_label=False, placeholder="Type your question…",
                                 scale=5, max_lines=6, autofocus=True)
            send = gr.Button("Send", variant="primary", scale=1)
        new = gr.Button("New conversation", variant="secondary", size="sm")

        turn = dict(fn=handlers.send, inputs=[textbox, chatbot, conversation_id],
                    outputs=[chatbot, conversation_id, textbox], api_visibility="private",
                    concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
        textbox.submit(**turn)
        send.click(**turn)
        for event in (new.click, chatbot.clear):  # the Chatbot's own trash button too
            event(handlers.new_conversation, outputs=[chatbot, conversation_id, textbox],
                  api_visibility="private", queue=False)
        gr.api(handlers.chat, api_name="chat", concurrency_limit=CHAT_CONCURRENCY,
               concurrency_id="chat")
    return demo
