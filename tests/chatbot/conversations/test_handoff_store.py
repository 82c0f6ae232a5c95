"""Hand-off, the messages feed, feedback and visitor bindings in the log, on SQLite and on a real
PostgreSQL: the contract the engine, the API and the CLI rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatbot.conversations.feed import check_email
from chatbot.conversations.ids import new_conversation_id
from chatbot.conversations.store import ConversationStore
from chatbot.conversations.visitors import is_visitor_token, new_visitor_token, visitor_hash
from chatbot.errors import InvalidConversation, InvalidInput
from chatbot.messages import Reply
from knowledge_base.db_models import utcnow


def reply(answer: str = "Orders arrive in 3-5 days.", action: str = "") -> Reply:
    return Reply("", answer, action == "handoff", "en", [], 0.9, "extractive", 1, action=action)


def handed_off(store: ConversationStore, visitor: str | None = None) -> tuple[str, int, int]:
    """A conversation with an answered turn, then a hand-off turn: (id, answer's turn, hand-off's turn)."""
    cid = new_conversation_id()
    first = store.log_turn(cid, "Where is my parcel?", reply(), channel="web", visitor_hash=visitor)
    second = store.log_turn(cid, "I want to talk to a human", reply("Connecting you…", "handoff"))
    return cid, first, second


def test_a_handoff_turn_makes_the_conversation_wait_in_its_own_transaction(store: ConversationStore) -> None:
    cid, _, _ = handed_off(store)
    assert store.handoff.state(cid).state == "waiting"
    [waiting] = store.handoff.waiting()
    assert waiting.id == cid and waiting.last_message == "I want to talk to a human"
    assert waiting.channel == "web" and waiting.contact_email is None
    assert abs(waiting.waiting_since - utcnow()) < timedelta(minutes=1)
    # A second hand-off while waiting keeps the first time: the wait is not reset.
    store.log_turn(cid, "hello??", reply("Still connecting…", "handoff"))
    assert store.handoff.waiting()[0].waiting_since == waiting.waiting_since


def test_waiting_is_oldest_first_and_leaves_out_taken_and_bot_conversations(store: ConversationStore) -> None:
    first, second, third = handed_off(store)[0], handed_off(store)[0], handed_off(store)[0]
    store.log_turn("cbot", "Hi", reply())
    assert [w.id for w in store.handoff.waiting()] == [first, second, third]
    store.handoff.take(second, "Alice")
    store.handoff.release(third)
    assert [w.id for w in store.handoff.waiting()] == [first]


def test_relay_logs_the_customer_only_while_a_human_is_asked_for_or_holds_it(store: ConversationStore) -> None:
    cid, _, _ = handed_off(store)
    assert store.handoff.relay_if_held(cid, "My card is 4111 1111 1111 1111") == "waiting"
    assert store.handoff.take(cid, "  Alice  ").held_by == "Alice"
    assert store.handoff.relay_if_held(cid, "thanks") == "human"
    store.handoff.release(cid)
    assert store.handoff.relay_if_held(cid, "and now?") is None
    messages = store.get_transcript(cid).messages
    assert [(m.author, m.role) for m in messages[-2:]] == [("customer", "user"), ("customer", "user")]
    assert "4111" not in messages[-2].content  # redacted like every logged customer message
    assert store.get_transcript(cid).conversation.turns == 2  # relayed messages are no bot turns


def test_staff_reply_is_authored_takes_the_conversation_and_reaches_the_feed(store: ConversationStore) -> None:
    cid, answer_turn, _ = handed_off(store)
    before = store.feed.messages_after(cid, after=0, timeout_s=300)
    assert [(m.author, m.role) for m in before.messages] == [("customer", "user"), ("bot", "assistant")] * 2
    assert before.messages[1].turn_id == answer_turn and before.messages[0].turn_id is None
    assert before.state == "waiting" and before.cursor == before.messages[-1].id

    message_id = store.handoff.staff_reply(cid, "Alice", "Hi, Alice here. \ud800 Let me check.", 4000)
    feed = store.feed.messages_after(cid, after=before.cursor, timeout_s=300)
    [staff] = feed.messages
    assert (staff.id, staff.author, staff.name, staff.role) == (message_id, "staff", "Alice", "assistant")
    assert staff.text == "Hi, Alice here. \ufffd Let me check."  # the storable boundary
    assert (feed.state, feed.held_by, feed.cursor) == ("human", "Alice", message_id)
    assert store.get_transcript(cid).messages[-1].author == "staff:Alice"
    # Nothing new: the same cursor comes back.
    assert store.feed.messages_after(cid, after=message_id, timeout_s=300).messages == []
    assert store.feed.messages_after(cid, after=message_id, timeout_s=300).cursor == message_id


@pytest.mark.parametrize(("staff", "text", "problem"), [
    ("Alice", "   ", "empty"), ("", "Hello", "name is empty"), ("Alice", "x" * 4001, "4001 characters"),
    ("A" * 65, "Hello", "65 characters"),
])
def test_staff_replies_that_cannot_be_sent_are_invalid_input(store: ConversationStore, staff: str, text: str,
                                                             problem: str) -> None:
    cid, _, _ = handed_off(store)
    with pytest.raises(InvalidInput, match=problem):
        store.handoff.staff_reply(cid, staff, text, 4000)
    assert store.handoff.state(cid).state == "waiting"


def test_unknown_conversations_are_invalid_for_every_staff_action(store: ConversationStore) -> None:
    for action in (lambda: store.handoff.take("0" * 32, "Alice"), lambda: store.handoff.release("0" * 32),
                   lambda: store.handoff.staff_reply("0" * 32, "Alice", "Hi", 4000),
                   lambda: store.handoff.take("not an id!", "Alice"),
                   lambda: store.feed.messages_after("0" * 32, 0, 300)):
        with pytest.raises(InvalidConversation):
            action()


def test_the_contact_offer_comes_after_the_timeout_while_waiting_only(store: ConversationStore) -> None:
    cid, _, _ = handed_off(store)
    assert store.feed.messages_after(cid, 0, timeout_s=300).contact_offer is False
    assert store.feed.messages_after(cid, 0, timeout_s=0).contact_offer is True
    later = utcnow() + timedelta(seconds=301)
    assert store.feed.messages_after(cid, 0, timeout_s=300, now=later).contact_offer is True
    assert store.feed.leave_contact(cid, " ana@example.com ") == "ana@example.com"
    assert store.feed.messages_after(cid, 0, timeout_s=0).contact_left is True
    assert store.handoff.waiting()[0].contact_email == "ana@example.com"
    store.handoff.take(cid, "Alice")
    assert store.feed.messages_after(cid, 0, timeout_s=0, now=later).contact_offer is False


@pytest.mark.parametrize("email", ["", "ana", "ana@", "@example.com", "ana@example", "ana @example.com",
                                   "ana@exa mple.com", "<ana@example.com>", "ana@@example.com", "a" * 250 + "@x.com",
                                   "ana\ud800@example.com", "ana@-example.com", ".ana@example.com"])
def test_what_is_not_an_email_is_refused_clearly(store: ConversationStore, email: str) -> None:
    cid, _, _ = handed_off(store)
    with pytest.raises(InvalidInput, match="is not an email address: write it like name@example.com"):
        store.feed.leave_contact(cid, email)
    assert store.feed.messages_after(cid, 0, 0).contact_left is False


@pytest.mark.parametrize("email", ["ana@example.com", "ana.b+shop@mail.example.co.uk", "josé@correo.es",
                                   "li@例子.中国", "x@xn--p1ai.xn--p1ai"])
def test_real_addresses_pass(email: str) -> None:
    assert check_email(email) == email


def test_feedback_is_stored_with_the_turn_and_a_second_vote_replaces_the_first(store: ConversationStore) -> None:
    cid, turn, _ = handed_off(store)
    assert store.feedback.turn_conversation(turn) == cid
    assert store.feedback.give(turn, "up").comment == ""
    replaced = store.feedback.give(turn, "down", "  Wrong answer \x00 ")
    assert (replaced.rating, replaced.comment) == ("down", "Wrong answer \ufffd")
    assert store.feedback.of_turn(turn) == replaced
    with pytest.raises(InvalidInput, match="not one of up, down"):
        store.feedback.give(turn, "meh")
    with pytest.raises(InvalidInput, match="2001 characters"):
        store.feedback.give(turn, "down", "x" * 2001)
    with pytest.raises(InvalidConversation, match="No turn has the id 999999"):
        store.feedback.give(999999, "up")
    assert store.feedback.turn_conversation(999999) is None
    assert store.feedback.of_turn(turn).rating == "down"


def test_a_conversation_is_bound_to_its_visitors_token_only(store: ConversationStore) -> None:
    token, other = new_visitor_token(), new_visitor_token()
    assert is_visitor_token(token) and len(token) == 43 and token != other
    assert len(visitor_hash(token)) == 64 and token not in visitor_hash(token)
    bound, _, _ = handed_off(store, visitor_hash(token))
    unbound, _, _ = handed_off(store)
    assert store.visitors.check(bound, token) == bound
    for stranger in (other, None, "short", "x" * 43):
        for allow_unbound in (False, True):
            with pytest.raises(InvalidConversation) as refused:
                store.visitors.check(bound, stranger, allow_unbound)
            assert str(refused.value).startswith(f"No conversation has the id {bound!r}")  # as if unknown
    with pytest.raises(InvalidConversation):
        store.visitors.check(unbound, token)  # a bound-to-none conversation is no visitor's ...
    assert store.visitors.check(unbound, None, allow_unbound=True) == unbound  # ... but /v1's by id
    with pytest.raises(InvalidConversation):
        store.visitors.check("0" * 32, token, allow_unbound=True)
