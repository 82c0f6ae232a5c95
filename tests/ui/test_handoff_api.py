"""Hand-off, staff replies, the messages feed, feedback, contact email and visitor tokens over real
HTTP: one uvicorn server for the module, the extractive generator, the shipped embedder, SQLite.

Until the decide stage recognises "I want a human" (another part of issue 12), a test logs the
hand-off turn through the store, exactly as the engine will log its `Reply(action="handoff")`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.messages import Reply
from chatbot.services import Services
from ui.server import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("handoff-api")) as home:
        yield services_with_faq(home, SHOP_FAQ, warm=True)


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


@pytest.fixture
def visitor(server_url: str) -> Iterator[httpx.Client]:
    """A browser of its own: a fresh cookie jar."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


@pytest.fixture
def stranger(server_url: str) -> Iterator[httpx.Client]:
    """Another browser, with a cookie jar of its own."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


def ask(http: httpx.Client, message: str, conversation_id: str | None = None, **kwargs) -> httpx.Response:
    return http.post("/api/ask", json={"message": message, "conversation_id": conversation_id}, **kwargs)


def poll(http: httpx.Client, conversation_id: str, after: int = 0, **kwargs) -> httpx.Response:
    return http.get(f"/api/conversations/{conversation_id}/messages", params={"after": after}, **kwargs)


def hand_off(services: Services, conversation_id: str) -> None:
    """The customer asked for a human: the turn the engine logs for it."""
    services.conversations.log_turn(conversation_id, "I want to talk to a human", Reply(
        conversation_id, "I'm connecting you with a member of our team.", True, "en", [], 0.0, "handoff", 1,
        action="handoff"))


def test_the_first_answer_sets_an_httponly_samesite_visitor_cookie(visitor: httpx.Client) -> None:
    first = ask(visitor, "How long does shipping take?")
    assert first.status_code == 200
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("chatbot_visitor=") and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower() and "secure" not in cookie.lower()
    assert len(visitor.cookies["chatbot_visitor"]) == 43
    second = ask(visitor, "Can I pay with PayPal?", first.json()["conversation_id"])
    assert second.status_code == 200 and "set-cookie" not in second.headers  # presented, not reissued
    assert second.json()["sources"][0]["id"] == "payment"


def test_handoff_staff_reply_reaches_the_page_and_the_bot_stays_quiet_until_release(
        visitor: httpx.Client, services: Services) -> None:
    answered = ask(visitor, "How long does shipping take?").json()
    cid = answered["conversation_id"]
    hand_off(services, cid)
    feed = poll(visitor, cid).json()
    assert poll(visitor, cid).headers["cache-control"] == "no-store"
    assert feed["state"] == "waiting" and feed["held_by"] is None and feed["contact_offer"] is False
    assert [(m["author"], m["role"]) for m in feed["messages"]] == [("customer", "user"), ("bot", "assistant")] * 2
    assert feed["messages"][1]["turn_id"] == answered["turn_id"] and feed["messages"][1]["text"] == answered["answer"]
    assert [s["id"] for s in feed["messages"][1]["sources"]] == [s["id"] for s in answered["sources"]]
    assert feed["messages"][0]["sources"] == []  # the customer's message cites nothing
    assert feed["cursor"] == feed["messages"][-1]["id"]
    assert cid in [w.id for w in services.waiting_conversations()]

    # Waiting: the customer's message is logged for staff, the bot says nothing.
    quiet = ask(visitor, "Hello? Is anyone there?", cid).json()
    assert (quiet["action"], quiet["answer"], quiet["abstained"], quiet["turn_id"]) == ("handoff", "", True, None)
    new = poll(visitor, cid, feed["cursor"]).json()
    assert [(m["author"], m["text"]) for m in new["messages"]] == [("customer", "Hello? Is anyone there?")]

    # A staff reply through the service appears in the next poll, with its author.
    services.staff_reply(cid, "Alice", "Hi, I'm Alice. Let me look at your order.")
    staff = poll(visitor, cid, new["cursor"]).json()
    assert [(m["author"], m["name"], m["role"], m["text"]) for m in staff["messages"]] == [
        ("staff", "Alice", "assistant", "Hi, I'm Alice. Let me look at your order.")]
    assert (staff["state"], staff["held_by"]) == ("human", "Alice")
    assert cid not in [w.id for w in services.waiting_conversations()]

    # Held by a human: still quiet, even for a question the bot could answer.
    held = ask(visitor, "Which payment methods do you accept?", cid).json()
    assert held["action"] == "handoff" and held["answer"] == "" and held["sources"] == []
    assert [m["author"] for m in poll(visitor, cid, staff["cursor"]).json()["messages"]] == ["customer"]

    services.release_conversation(cid)
    back = ask(visitor, "Which payment methods do you accept?", cid).json()
    assert back["action"] == "answer" and back["sources"][0]["id"] == "payment" and back["turn_id"] > answered["turn_id"]
    assert poll(visitor, cid).json()["state"] == "bot"


def test_another_or_no_visitor_token_gets_the_404_of_an_unknown_conversation(
        visitor: httpx.Client, stranger: httpx.Client, server_url: str, services: Services) -> None:
    first = ask(visitor, "How long does shipping take?").json()
    cid, token = first["conversation_id"], visitor.cookies["chatbot_visitor"]
    unknown = ask(stranger, "Hi", "0" * 32)
    assert unknown.status_code == 404
    turns = services.conversations.get_transcript(cid).conversation.turns

    refused = ask(stranger, "What did I ask before?", cid)
    assert refused.status_code == 404 and "set-cookie" not in refused.headers
    assert refused.json()["detail"] == unknown.json()["detail"].replace("0" * 32, cid)
    assert poll(stranger, cid).status_code == 404
    assert stranger.post(f"/api/conversations/{cid}/contact", json={"email": "eve@example.com"}).status_code == 404
    assert stranger.post("/api/feedback", json={"turn_id": first["turn_id"], "rating": "down"}).status_code == 404
    with httpx.Client(base_url=server_url, timeout=30) as no_cookies:
        assert ask(no_cookies, "Hello again", cid).status_code == 404
        assert poll(no_cookies, cid).status_code == 404
        # A server-side client presents the token as a header instead of the cookie.
        headers = {"X-Visitor-Token": token}
        assert ask(no_cookies, "Can I pay with PayPal?", cid, headers=headers).status_code == 200
        assert poll(no_cookies, cid, headers=headers).json()["conversation_id"] == cid
        bad = ask(no_cookies, "Hi", cid, headers={"X-Visitor-Token": "short"})
        assert bad.status_code == 422 and "visitor token is not valid" in bad.json()["detail"]
    assert services.conversations.get_transcript(cid).conversation.turns == turns + 1  # the header's turn only
    # The stranger's own conversation is theirs: it got its own token.
    own = ask(stranger, "Can I pay with PayPal?").json()
    assert stranger.cookies["chatbot_visitor"] != token
    assert poll(stranger, own["conversation_id"]).status_code == 200
    assert poll(visitor, own["conversation_id"]).status_code == 404


def test_feedback_up_down_replaced_and_refused_for_another_visitor(
        visitor: httpx.Client, stranger: httpx.Client, services: Services) -> None:
    answer = ask(visitor, "How do I return an item?").json()
    turn = answer["turn_id"]
    up = visitor.post("/api/feedback", json={"turn_id": turn, "rating": "up"})
    assert up.status_code == 200 and up.json() == {"turn_id": turn, "rating": "up", "comment": ""}
    down = visitor.post("/api/feedback", json={"turn_id": turn, "rating": "down", "comment": "Not my question"})
    assert down.json() == {"turn_id": turn, "rating": "down", "comment": "Not my question"}
    stored = services.conversations.feedback.of_turn(turn)
    assert (stored.rating, stored.comment) == ("down", "Not my question")

    assert stranger.post("/api/feedback", json={"turn_id": turn, "rating": "up"}).status_code == 404
    unknown = visitor.post("/api/feedback", json={"turn_id": 10**9, "rating": "up"})
    assert unknown.status_code == 404 and answer["conversation_id"] not in unknown.text
    assert visitor.post("/api/feedback", json={"turn_id": turn, "rating": "meh"}).status_code == 422
    too_long = visitor.post("/api/feedback", json={"turn_id": turn, "rating": "down", "comment": "x" * 2001})
    assert too_long.status_code == 422 and "2001 characters" in too_long.json()["detail"]
    assert services.conversations.feedback.of_turn(turn).rating == "down"  # refused votes changed nothing


def test_after_the_timeout_the_customer_may_leave_an_email(visitor: httpx.Client, services: Services) -> None:
    cid = ask(visitor, "How long does shipping take?").json()["conversation_id"]
    hand_off(services, cid)
    assert poll(visitor, cid).json()["contact_offer"] is False  # the default wait: 300 s
    services.settings.handoff_timeout_s = 0
    try:
        feed = poll(visitor, cid).json()
    finally:
        services.settings.handoff_timeout_s = 300
    assert feed["contact_offer"] is True and feed["contact_left"] is False
    invalid = visitor.post(f"/api/conversations/{cid}/contact", json={"email": "ana at example"})
    assert invalid.status_code == 422
    assert invalid.json() == {"detail": "'ana at example' is not an email address: write it like name@example.com."}
    left = visitor.post(f"/api/conversations/{cid}/contact", json={"email": "ana@example.com"})
    assert left.status_code == 200 and left.json() == {"conversation_id": cid, "contact_email": "ana@example.com"}
    assert poll(visitor, cid).json()["contact_left"] is True
    assert [w.contact_email for w in services.waiting_conversations() if w.id == cid] == ["ana@example.com"]


def test_v1_binds_a_conversation_to_the_token_it_was_started_with(server_url: str, services: Services) -> None:
    token = "t" * 40
    body = {"model": "support-chatbot", "messages": [{"role": "user", "content": "Can I pay with PayPal?"}]}
    with httpx.Client(base_url=server_url, timeout=30) as client:
        started = client.post("/v1/chat/completions", json=body, headers={"X-Visitor-Token": token})
        assert started.status_code == 200
        cid = started.json()["conversation_id"]
        refused = client.post("/v1/chat/completions", json=body, headers={"X-Conversation-Id": cid})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "conversation_not_found"
        again = client.post("/v1/chat/completions", json=body, headers={"X-Conversation-Id": cid,
                                                                         "X-Visitor-Token": token})
        assert again.status_code == 200 and again.json()["conversation_id"] == cid
        # The same token reads it on /api too.
        assert poll(client, cid, headers={"X-Visitor-Token": token}).status_code == 200
        # Without a token, as before: bound to none, continued by its id, but no visitor's on /api.
        free = client.post("/v1/chat/completions", json=body).json()["conversation_id"]
        assert client.post("/v1/chat/completions", json=body, headers={"X-Conversation-Id": free}).status_code == 200
        assert poll(client, free, headers={"X-Visitor-Token": token}).status_code == 404
