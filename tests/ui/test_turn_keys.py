"""Idempotent turns: a retry that carries the same `Idempotency-Key` is answered from the log and
logged once, over real HTTP (/api and /v1), at the engine (two attempts in flight at once) and in
the store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.conversations.store import ConversationStore, TurnAlreadyLogged
from chatbot.errors import InvalidInput
from chatbot.messages import Citation, Reply
from chatbot.services import Services
from ui.server import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("turn-keys")) as home:
        yield services_with_faq(home, SHOP_FAQ)


@pytest.fixture(scope="module")
def http(services: Services) -> Iterator[httpx.Client]:
    services.warm_up()
    with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def key() -> str:
    return uuid.uuid4().hex


def turns_of(services: Services, conversation_id: str) -> int:
    transcript = services.engine.store.get_transcript(conversation_id)
    return 0 if transcript is None else transcript.conversation.turns


def ask(http: httpx.Client, message: str, turn_key: str | None, conversation_id: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": turn_key} if turn_key is not None else {}
    return http.post("/api/ask", json={"message": message, "conversation_id": conversation_id}, headers=headers)


def test_a_retried_first_turn_gets_the_same_conversation_and_is_logged_once(http: httpx.Client,
                                                                            services: Services) -> None:
    before = services.engine.store.count_turns()
    turn = key()
    first = ask(http, "How long does shipping take?", turn)
    retry = ask(http, "How long does shipping take?", turn)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["conversation_id"] == first.json()["conversation_id"]
    assert retry.json()["answer"] == first.json()["answer"]
    assert retry.json()["sources"] == first.json()["sources"] and first.json()["sources"]
    assert retry.json()["action"] == "answer"
    assert services.engine.store.count_turns() == before + 1


def test_a_retried_later_turn_is_logged_once_and_a_new_key_is_a_new_turn(http: httpx.Client,
                                                                         services: Services) -> None:
    conversation = ask(http, "Can I return an item?", key()).json()["conversation_id"]
    turn = key()
    for _ in range(3):
        response = ask(http, "What is the capital of Peru?", turn, conversation)
        assert response.status_code == 200 and response.json()["abstained"] is True
        assert response.json()["action"] == "abstain"
    assert turns_of(services, conversation) == 2
    assert ask(http, "What is the capital of Peru?", key(), conversation).status_code == 200
    assert turns_of(services, conversation) == 3


def test_a_key_reused_for_another_message_or_conversation_is_refused(http: httpx.Client,
                                                                     services: Services) -> None:
    turn = key()
    conversation = ask(http, "Can I return an item?", turn).json()["conversation_id"]
    before = services.engine.store.count_turns()
    other_message = ask(http, "How long does shipping take?", turn, conversation)
    assert other_message.status_code == 422 and "another message" in other_message.json()["detail"]
    other = ask(http, "Hello", key()).json()["conversation_id"]
    other_conversation = ask(http, "Can I return an item?", turn, other)
    assert other_conversation.status_code == 422 and "another conversation" in other_conversation.json()["detail"]
    assert services.engine.store.count_turns() == before + 1  # only "Hello"


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space in it!!", ""])
def test_a_malformed_key_is_a_422_that_says_what_a_key_is(http: httpx.Client, bad: str) -> None:
    response = ask(http, "Can I return an item?", bad)
    assert response.status_code == 422 and "16-64" in response.json()["detail"]


def test_v1_retries_plain_and_streamed_answer_from_the_log(http: httpx.Client, services: Services) -> None:
    body = {"model": "support-chatbot", "messages": [{"role": "user", "content": "Can I return an item?"}]}
    turn = key()
    first = http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": turn})
    retry = http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": turn})
    assert first.status_code == retry.status_code == 200
    conversation = first.headers["X-Conversation-Id"]
    assert retry.headers["X-Conversation-Id"] == conversation == retry.json()["conversation_id"]
    assert retry.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
    assert turns_of(services, conversation) == 1

    streamed = {**body, "stream": True}
    turn = key()
    texts, conversations = [], []
    for _ in range(2):
        with http.stream("POST", "/v1/chat/completions", json=streamed, headers={"Idempotency-Key": turn}) as response:
            assert response.status_code == 200
            conversations.append(response.headers["X-Conversation-Id"])
            chunks = [json.loads(line[6:]) for line in response.iter_lines()
                      if line.startswith("data: ") and line != "data: [DONE]"]
        texts.append("".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]))
    assert texts[0] == texts[1] != "" and conversations[0] == conversations[1]
    assert turns_of(services, conversations[0]) == 1


def test_two_attempts_in_flight_at_once_log_one_turn_and_give_one_answer(services: Services) -> None:
    """The second attempt finishes its work after the first was logged: it answers with the
    logged turn (its conversation id included) and writes nothing."""
    turn, text = key(), "How long does shipping take?"
    late = services.engine.stream(None, text, turn_key=turn)
    assert next(late)  # the answer's text: worked out, not logged yet
    early = services.engine.respond(None, text, turn_key=turn)
    before = services.engine.store.count_turns()
    reply = next(event for event in late if isinstance(event, Reply))
    assert reply.conversation_id == early.conversation_id and reply.answer == early.answer
    assert services.engine.store.count_turns() == before
    assert turns_of(services, early.conversation_id) == 1


def test_the_store_keeps_a_key_once_on_both_databases(store: ConversationStore) -> None:
    reply = Reply("", "Standard shipping takes 3-5 days.", False, "en",
                  [Citation(1, "ship-time", "How long does shipping take?", 0.91)], 0.91, "extractive", 3)
    conversation = store.start_conversation()
    turn = key()
    store.log_turn(conversation, "how long is shipping? call +1 415 555 0132", reply, turn_key=turn)
    with pytest.raises(TurnAlreadyLogged):
        store.log_turn(conversation, "how long is shipping? call +1 415 555 0132", reply, turn_key=turn)
    found = store.find_turn(turn, "how long is shipping? call +1 415 555 0132")
    assert found is not None and found.conversation_id == conversation
    assert found.answer == reply.answer and found.trace.entry_ids == ["ship-time"]
    assert "[phone]" in found.question  # compared as logged: redacted
    with pytest.raises(InvalidInput, match="another message"):
        store.find_turn(turn, "something else")
    assert store.find_turn(key(), "how long is shipping?") is None
    assert store.count_turns() == 1
    # Turns without a key are as many as they are sent (NULL keys do not collide).
    store.log_turn(conversation, "again", reply)
    store.log_turn(conversation, "again", reply)
    assert store.count_turns() == 3


def test_a_first_turn_retried_without_the_lost_cookie_can_go_on(http: httpx.Client, services: Services) -> None:
    """The first answer carried the visitor cookie; when it is lost, the retry comes without one.
    The retry (same key) gets the conversation and a new cookie that continues it; a later
    turn's key sent without its conversation id cannot take a conversation over."""
    turn, text = key(), "How long does shipping take?"
    with httpx.Client(base_url=str(http.base_url), timeout=30) as lost:  # its answer never arrives
        first = ask(lost, text, turn)
    with httpx.Client(base_url=str(http.base_url), timeout=30) as retrying:
        retry = ask(retrying, text, turn)
        assert retry.status_code == 200 and retry.cookies.get("chatbot_visitor")
        conversation = retry.json()["conversation_id"]
        assert conversation == first.json()["conversation_id"]
        later_key = key()
        assert ask(retrying, "Can I pay with PayPal?", later_key, conversation).status_code == 200
        assert turns_of(services, conversation) == 2
    with httpx.Client(base_url=str(http.base_url), timeout=30) as stranger:
        taken = ask(stranger, "Can I pay with PayPal?", later_key)
        assert taken.status_code == 422 and "later message" in taken.json()["detail"]
        assert ask(stranger, "Hello", key(), conversation).status_code == 404
