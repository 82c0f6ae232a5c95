"""The engine and the hand-off: a turn's id and visitor go with its log; the bot stays quiet while
a human is asked for or holds the conversation (real retriever and store, extractive generator)."""

from __future__ import annotations

from collections.abc import Callable

from faq_services import SHOP_FAQ

from chatbot.conversations.visitors import new_visitor_token, visitor_hash
from chatbot.messages import Reply
from chatbot.services import Services


def test_the_reply_names_its_logged_turn_and_a_new_conversation_its_visitor(
        make_services: Callable[..., Services]) -> None:
    services = make_services(SHOP_FAQ)
    token = new_visitor_token()
    first = services.engine.respond(None, "How long does shipping take?", visitor_hash=visitor_hash(token))
    second = services.engine.respond(first.conversation_id, "What is the capital of Peru?",
                                     visitor_hash=visitor_hash(new_visitor_token()))  # ignored: not new
    [answer, abstain] = [m.trace for m in services.conversations.get_transcript(first.conversation_id).messages
                         if m.role == "assistant"]
    assert (first.turn_id, second.turn_id) == (answer.id, abstain.id)
    assert services.conversation_for_visitor(first.conversation_id, token) == first.conversation_id
    unbound = services.engine.respond(None, "Can I pay with PayPal?")  # e.g. the CLI: bound to none
    assert services.conversation_for_visitor(unbound.conversation_id, None, allow_unbound=True)


def test_the_bot_is_quiet_while_waiting_or_held_and_answers_again_after_release(
        make_services: Callable[..., Services]) -> None:
    services = make_services(SHOP_FAQ)
    engine, store = services.engine, services.conversations
    cid = engine.respond(None, "How long does shipping take?").conversation_id
    store.log_turn(cid, "A human please", Reply(cid, "Connecting you…", True, "en", [], 0.0, "handoff", 1,
                                                action="handoff"))
    events = list(engine.stream(cid, "Can I pay with PayPal?"))
    [quiet] = events  # no text at all: only the finished reply
    assert isinstance(quiet, Reply) and (quiet.kind, quiet.answer, quiet.turn_id, quiet.citations) == (
        "handoff", "", None, [])
    services.take_conversation(cid, "Alice")
    assert engine.respond(cid, "Can I pay with PayPal?").kind == "handoff"
    # A message the guard refuses never reaches staff: the bot says why, as in any conversation.
    refused = engine.respond(cid, "x" * (services.settings.max_message_chars + 1))
    assert refused.rejected and refused.answer and refused.turn_id is not None
    messages = store.get_transcript(cid).messages
    assert [m.author for m in messages] == ["customer", "bot", "customer", "bot", "customer", "customer",
                                            "customer", "bot"]
    assert store.get_transcript(cid).conversation.turns == 3  # the relayed messages are no bot turns
    services.release_conversation(cid)
    back = engine.respond(cid, "Can I pay with PayPal?")
    assert back.kind == "answer" and back.citations[0].entry_id == "payment"
