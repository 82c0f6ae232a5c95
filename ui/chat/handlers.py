"""The chat page's event handlers, apart from its layout (`ui.chat.app`) so they can be tested
directly. They call `Services` and render what it returns; nothing else.

Each browser session keeps, in `gr.State`s, its conversation id, the page's language, the turn
of each bot message (for thumbs up and down) and the feed's cursor (the last message id seen, for
staff replies). The visitor is the `chatbot_visitor` cookie (`ui.chat.visitor_cookie` sets it on
the page): a reload finds the visitor's latest conversation and shows it again; nobody else's.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from chatbot.conversations.visitors import visitor_hash
from chatbot.errors import DatabaseUnavailable, InvalidConversation, InvalidInput
from chatbot.messages import Reply
from ui.api.responses import sources_to_json
from ui.api.visitors import VISITOR_COOKIE
from ui.chat.rendering import (NONE_OF_THESE, customer_text, feed_message, render_reply, reply_options,
                               stamped)
from ui.chat.look import header_html
from ui.chat.words import page_language, words

if TYPE_CHECKING:
    from chatbot.services import Services

# Shown when the database is down: the engine answers no turn that it cannot log.
UNAVAILABLE = ("Sorry, our help center is having a technical problem right now. "
               "Please try again in a few minutes, or contact our support team.")

History = list[dict[str, Any]]
Turns = dict[str, int]  # a bot message's index in the chat (as a string: State is JSON) -> its turn id
# What a turn updates: chat, conversation id, textbox, turns, the staff-reply poll timer.
TurnUpdate = tuple[History, str | None, str, Turns, Any]


def visitor_of(request: gr.Request | None) -> str | None:
    """The visitor token the page's cookie carries, or None."""
    if request is None:
        return None
    return request.cookies.get(VISITOR_COOKIE) or None


def poll_timer(active: bool) -> Any:
    """The staff-reply poll timer, on while a human is asked for or holds the conversation."""
    return gr.Timer(active=active)


class ChatHandlers:
    """The page's handlers, bound to `services`."""

    def __init__(self, services: "Services", title: str = "") -> None:
        self.services, self.title = services, title

    def page_words(self, language: str) -> tuple[Any, ...]:
        """The page's worded components in `language`, in the order of `ui.chat.app`'s PAGE_WORDS:
        header, textbox, send, new conversation, comment, comment send, waiting text, email send."""
        said = words(language)
        return (header_html(self.title, said.online), gr.Textbox(placeholder=said.input_placeholder),
                gr.Button(said.send), gr.Button(said.new_conversation),
                gr.Textbox(placeholder=said.comment_placeholder), gr.Button(said.comment_send),
                said.waiting_for_staff, gr.Button(said.email_send))

    # -- a page load: the greeting, or the visitor's conversation again ---------------------------
    def load(self, request: gr.Request) -> tuple[Any, ...]:
        """(chat, conversation id, language, turns, cursor, timer, *`page_words`)."""
        language = page_language(request.headers.get("accept-language") if request else None)
        said = words(language)
        greeting = self.services.greeting(language) or said.greeting  # staff's (console), else the page's
        chat = gr.Chatbot(value=[], placeholder=greeting,
                          examples=[{"text": q} for q in self.services.suggested_questions(language)])
        controls = self.page_words(language)
        token = visitor_of(request)
        conversation_id = self.services.latest_conversation_for_visitor(token) if token else None
        if conversation_id is None:
            return chat, None, language, {}, 0, poll_timer(False), *controls
        feed = self.services.messages_for_visitor(conversation_id, token)
        history: History = []
        turns: Turns = {}
        for message in feed.messages:
            if message.turn_id is not None and message.role == "assistant":
                turns[str(len(history))] = message.turn_id
            history.append(feed_message(message, language, self.services.citations_of(message.sources)))
        waiting = feed.state in ("waiting", "human")
        chat = gr.Chatbot(value=history, placeholder=greeting,
                          examples=[{"text": q} for q in self.services.suggested_questions(language)])
        return chat, conversation_id, language, turns, feed.cursor, poll_timer(waiting), *controls

    # -- one customer turn -----------------------------------------------------------------------
    def send(self, message: str, history: History | None, conversation_id: str | None, language: str,
             turns: Turns | None, request: gr.Request = None) -> Iterator[TurnUpdate]:
        """Stream one typed turn into the chat."""
        if not message or not message.strip():
            yield list(history or []), conversation_id, "", dict(turns or {}), gr.skip()
            return
        yield from self._turn(message, message, None, history, conversation_id, language, turns, request)

    def suggested(self, evt: gr.SelectData, history: History | None, conversation_id: str | None,
                  language: str, turns: Turns | None, request: gr.Request = None) -> Iterator[TurnUpdate]:
        """A suggested question clicked on the empty chat: asked as if typed."""
        text = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
        yield from self._turn(text, text, None, history, conversation_id, language, turns, request)

    def chose(self, evt: gr.SelectData, history: History | None, conversation_id: str | None,
              language: str, turns: Turns | None, request: gr.Request = None) -> Iterator[TurnUpdate]:
        """An option of a "Did you mean…?" clicked: the entry it names answers ("none": a human
        is offered); the customer's side shows the option's words."""
        value = str(evt.value)
        label = words(language).none_of_these if value == NONE_OF_THESE else self._option_label(history, value)
        yield from self._turn(label, label, value, history, conversation_id, language, turns, request)

    @staticmethod
    def _option_label(history: History | None, value: str) -> str:
        for message in reversed(history or []):
            for option in message.get("options") or []:
                if option.get("value") == value:
                    return option.get("label", value)
        return value

    def _turn(self, text: str, shown: str, choice: str | None, history: History | None,
              conversation_id: str | None, language: str, turns: Turns | None,
              request: gr.Request | None) -> Iterator[TurnUpdate]:
        history, turns = list(history or []), dict(turns or {})
        history.append(stamped({"role": "user", "content": customer_text(shown)}))
        yield list(history), conversation_id, "", dict(turns), gr.skip()  # Gradio shows its typing dots now
        answer, reply = "", None
        try:
            for event in self._stream(conversation_id, text, choice, visitor_of(request)):
                if isinstance(event, Reply):
                    reply = event
                else:
                    answer += event
                    yield [*history, {"role": "assistant", "content": answer}], conversation_id, "", turns, gr.skip()
        except (DatabaseUnavailable, InvalidInput) as error:
            said = UNAVAILABLE if isinstance(error, DatabaseUnavailable) else error.customer_message
            yield [*history, {"role": "assistant", "content": said}], conversation_id, "", turns, gr.skip()
            return
        assert reply is not None  # the engine's last event
        if reply.answer:  # a quiet turn (a human holds the conversation) adds no bot message
            if reply.turn_id is not None:
                turns[str(len(history))] = reply.turn_id
            history.append(stamped({"role": "assistant", "content": render_reply(reply),
                                    "options": reply_options(reply)}))
        handed_off = reply.kind == "handoff"
        yield history, reply.conversation_id, "", turns, poll_timer(True) if handed_off else gr.skip()

    def _stream(self, conversation_id: str | None, text: str, choice: str | None,
                visitor: str | None) -> Iterator[str | Reply]:
        """The engine's events for the turn. A conversation this visitor may not continue (unknown,
        stale, another visitor's: `InvalidConversation`, raised before any event) is left for a
        fresh one."""
        if conversation_id is not None:
            try:
                self.services.conversation_for_visitor(conversation_id, visitor)
            except InvalidConversation:
                conversation_id, choice = None, None
        chosen = {"choice": choice} if choice is not None else {}
        yield from self.services.engine.stream(conversation_id, text, visitor_hash=visitor_hash(visitor) if visitor else None,
                                               **chosen)

    # -- feedback, staff replies, a contact email ------------------------------------------------
    def feedback(self, evt: gr.LikeData, turns: Turns | None, language: str,
                 request: gr.Request = None) -> tuple[Any, int | None]:
        """Thumbs up or down on a bot message: stored with its turn. (comment box, turn id)."""
        turn_id = (turns or {}).get(str(evt.index if isinstance(evt.index, int) else evt.index[0]))
        if turn_id is None or evt.liked is None:
            return gr.skip(), None
        rating = "up" if evt.liked is True or evt.liked == "Like" else "down"
        self.services.give_feedback(turn_id, rating, None, visitor_of(request))
        gr.Info(words(language).feedback_thanks)
        return gr.Row(visible=rating == "down"), turn_id

    def comment(self, text: str, turn_id: int | None, language: str,
                request: gr.Request = None) -> tuple[Any, str]:
        """The optional comment of a thumbs down. (comment box, its textbox)."""
        if turn_id is not None and text.strip():
            try:
                self.services.give_feedback(turn_id, "down", text, visitor_of(request))
            except InvalidInput as error:
                raise gr.Error(error.customer_message) from None
            gr.Info(words(language).feedback_thanks)
        return gr.Row(visible=False), ""

    def poll(self, history: History | None, conversation_id: str | None, cursor: int, language: str,
             request: gr.Request = None) -> tuple[History, int, Any, Any]:
        """Staff replies since the cursor, appended. (chat, cursor, timer, email box)."""
        if conversation_id is None:
            return gr.skip(), cursor, poll_timer(False), gr.skip()
        try:
            feed = self.services.messages_for_visitor(conversation_id, visitor_of(request), after=cursor)
        except (InvalidConversation, DatabaseUnavailable):
            return gr.skip(), cursor, gr.skip(), gr.skip()
        staff = [feed_message(m, language) for m in feed.messages if m.author == "staff"]
        held = feed.state in ("waiting", "human")
        email = gr.Row(visible=feed.contact_offer and not feed.contact_left)
        return ([*(history or []), *staff] if staff else gr.skip()), feed.cursor, poll_timer(held), email

    def leave_email(self, email: str, conversation_id: str | None, language: str,
                    request: gr.Request = None) -> tuple[Any, str]:
        """The email of a customer nobody answered in time. (email box, its textbox)."""
        if conversation_id is None:
            return gr.Row(visible=False), ""
        try:
            self.services.leave_contact_email(conversation_id, visitor_of(request), email)
        except (InvalidInput, InvalidConversation) as error:
            raise gr.Error(error.customer_message) from None
        gr.Info(words(language).email_saved)
        return gr.Row(visible=False), ""

    @staticmethod
    def new_conversation() -> tuple[History, None, str, Turns, int, Any]:
        """Clear the chat and forget the conversation; the next message starts a new one."""
        return [], None, "", {}, 0, poll_timer(False)

    # -- the page's API endpoint (gr.api "/chat") -------------------------------------------------
    def chat(self, message: str, conversation_id: str | None = None,
             request: gr.Request = None) -> tuple[str, str, list[dict]]:
        """Answer one turn for API clients: (answer, conversation id, sources).

        Pass the returned conversation id back to continue the same conversation; an empty,
        missing or unknown id, or one of a conversation bound to another visitor, starts a new
        one (its id is returned).
        """
        if conversation_id:
            try:  # as on /v1: a conversation bound to no visitor is continued by its id alone
                self.services.conversation_for_visitor(conversation_id, visitor_of(request), allow_unbound=True)
            except InvalidConversation:
                conversation_id = None
        try:
            *_, reply = self._api_stream(conversation_id or None, message)
        except DatabaseUnavailable:
            raise gr.Error(UNAVAILABLE) from None
        except InvalidInput as error:
            raise gr.Error(error.customer_message) from None
        assert isinstance(reply, Reply)  # the engine's last event
        return reply.answer, reply.conversation_id, sources_to_json(reply)

    def _api_stream(self, conversation_id: str | None, message: str) -> Iterator[str | Reply]:
        try:
            yield from self.services.engine.stream(conversation_id, message)
        except InvalidConversation:
            if conversation_id is None:
                raise
            yield from self.services.engine.stream(None, message)
