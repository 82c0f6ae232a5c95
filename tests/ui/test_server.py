"""The real server over real HTTP: the /api routes and the chat page's Gradio API.

One uvicorn server (in a thread, on a free localhost port) serves the whole module, with the
extractive generator, the shipped embedder and a small knowledge base in a temporary CHATBOT_HOME.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.conversations.database import create_db_engine
from chatbot.conversations.store import ConversationStore
from chatbot.conversations.visitors import new_visitor_token
from chatbot.services import Services
from ui.chat.handlers import ChatHandlers
from ui.server import MAX_BODY_BYTES, create_app

pytestmark = pytest.mark.integration

FAQ_CSV = SHOP_FAQ


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's CHATBOT_HOME, set up like the `chatbot_home` fixture but for the module."""
    with module_home(tmp_path_factory.mktemp("ui-server")) as home:
        yield home


@pytest.fixture(scope="module")
def services(home: Path) -> Services:
    services = services_with_faq(home, FAQ_CSV)
    assert len(services.knowledge_base.list_entries()) == 4
    return services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    services.warm_up()
    with running_server(create_app(services)) as url:
        yield url


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        yield client


def logged_turns(services: Services, conversation_id: str) -> list[tuple[str, str]]:
    """(user text, answer) of each turn logged, read through a store of its own on the same DB."""
    store = ConversationStore(create_db_engine(services.settings.database_url))
    transcript = store.get_transcript(conversation_id)
    assert transcript is not None, f"conversation {conversation_id} was not logged"
    messages = transcript.messages
    assert [m.role for m in messages] == ["user", "assistant"] * (len(messages) // 2)
    return [(messages[i].content, messages[i + 1].content) for i in range(0, len(messages), 2)]


def ask(http: httpx.Client, message, conversation_id=None) -> httpx.Response:
    return http.post("/api/ask", json={"message": message, "conversation_id": conversation_id})


def test_health_reports_the_index_and_generator(http: httpx.Client) -> None:
    response = http.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "kb_version": 1, "entry_count": 4,
                               "generator": "extractive", "detail": ""}


def test_ask_answers_in_scope_question_citing_the_entry(http: httpx.Client, services: Services) -> None:
    response = ask(http, "How many days until my parcel arrives?")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"answer", "abstained", "language", "sources", "conversation_id", "latency_ms", "action",
                         "options", "turn_id"}
    assert isinstance(body["turn_id"], int)
    assert body["action"] == "answer"
    assert body["abstained"] is False and body["language"] == "en"
    assert "3-5 business days" in body["answer"]
    assert body["sources"][0]["id"] == "shipping-time"
    assert body["sources"][0]["question"] == "How long does shipping take?"
    assert 0.5 <= body["sources"][0]["score"] <= 1.0 and body["latency_ms"] > 0
    assert logged_turns(services, body["conversation_id"]) == [
        ("How many days until my parcel arrives?", body["answer"])]


def test_ask_abstains_out_of_scope_and_offers_a_human(http: httpx.Client, services: Services) -> None:
    body = ask(http, "What's the capital of Peru?").json()
    assert body["abstained"] is True and body["sources"] == []
    assert "support team" in body["answer"]
    assert len(logged_turns(services, body["conversation_id"])) == 1


def test_ask_continues_a_conversation(http: httpx.Client, services: Services) -> None:
    first = ask(http, "Can I pay with PayPal?").json()
    second = ask(http, "How do I send something back?", first["conversation_id"]).json()
    assert second["conversation_id"] == first["conversation_id"]
    assert second["sources"][0]["id"] == "returns"
    assert [q for q, _ in logged_turns(services, first["conversation_id"])] == [
        "Can I pay with PayPal?", "How do I send something back?"]


@pytest.mark.parametrize("message", ["", "   ", "<script>alert(1)</script>", "x" * 10_000])
def test_ask_answers_odd_messages_politely(http: httpx.Client, services: Services, message: str) -> None:
    response = ask(http, message)
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is True and body["sources"] == []
    assert "<script>" not in body["answer"] and body["answer"].endswith(("?", "."))
    assert len(logged_turns(services, body["conversation_id"])) == 1


def test_ask_refuses_a_1mb_body_with_413(http: httpx.Client) -> None:
    response = ask(http, "x" * (1 << 20))
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body too large: the limit is {MAX_BODY_BYTES} "
                                          "bytes. Send a shorter message."}


@pytest.mark.parametrize("payload, field", [
    ({"message": 42}, "message"),
    ({"text": "hello"}, "message"),
    ({"message": "hi", "conversation_id": "not an id!"}, "conversation_id"),
    ({"message": "hi", "conversation_id": 7}, "conversation_id"),
])
def test_ask_rejects_wrong_types_with_422(http: httpx.Client, payload: dict, field: str) -> None:
    response = http.post("/api/ask", json=payload)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field for e in errors), errors
    assert all(e["msg"] for e in errors)


@pytest.mark.parametrize("invented", ["1", uuid.uuid4().hex])
def test_ask_refuses_an_id_the_server_did_not_issue_with_404(http: httpx.Client, services: Services,
                                                             invented: str) -> None:
    turns_before = services.conversations.count_turns()
    response = ask(http, "How long does shipping take?", invented)
    assert response.status_code == 404
    assert response.json() == {"detail": f"No conversation has the id {invented!r}. Start a new conversation "
                                         "by leaving the conversation id out; the answer carries the id to "
                                         "send with the next message."}
    assert services.conversations.get_transcript(invented) is None
    assert services.conversations.count_turns() == turns_before


def test_ask_refuses_a_malformed_id_with_422_saying_what_to_do(http: httpx.Client) -> None:
    response = ask(http, "hi", "not an id!")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "conversation_id"]
    assert "'not an id!' is not a conversation id" in error["msg"] and "leaving the conversation id out" in error["msg"]


def test_a_lone_surrogate_or_nul_is_answered_and_logged_as_a_replacement_character(
        http: httpx.Client, services: Services) -> None:
    """Changed: a lone surrogate was a 422 "cannot be stored"; now it is answered like any text
    and logged with U+FFFD (the store's boundary), in a new conversation and in a continued one."""
    first = ask(http, "Can I pay with PayPal?").json()
    for conversation_id in (None, first["conversation_id"]):
        # "\ud800" as a JSON escape: valid JSON, but half of a surrogate pair is no character.
        body = '{"message": "When will my order arrive? \\ud800\\u0000", "conversation_id": %s}' % (
            "null" if conversation_id is None else f'"{conversation_id}"')
        response = http.post("/api/ask", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert "3-5 business days" in answer["answer"] and "\ufffd" not in answer["answer"]
        assert logged_turns(services, answer["conversation_id"])[-1] == (
            "When will my order arrive? \ufffd\ufffd", answer["answer"])


def test_ask_rejects_malformed_json_with_422(http: httpx.Client) -> None:
    response = http.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "JSON decode error"


def test_chat_page_is_served_at_root(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert "Brightmart Help Center" in response.text


def test_gradio_client_chats_and_continues_the_conversation(server_url: str, services: Services) -> None:
    from gradio_client import Client

    client = Client(server_url, verbose=False)
    answer, conversation_id, sources = client.predict("When will my order arrive?", None, api_name="/chat")
    assert "3-5 business days" in answer
    assert sources[0]["id"] == "shipping-time"
    answer2, same_id, sources2 = client.predict("What are your opening hours?", conversation_id,
                                                api_name="/chat")
    assert same_id == conversation_id
    assert "Monday to Friday" in answer2 and sources2[0]["id"] == "store-hours"
    assert logged_turns(services, conversation_id) == [
        ("When will my order arrive?", answer), ("What are your opening hours?", answer2)]


def test_the_chat_page_starts_fresh_for_a_stale_id(server_url: str, services: Services) -> None:
    from gradio_client import Client

    stale = uuid.uuid4().hex  # e.g. a page left open while the database was reset
    answer, conversation_id, _ = Client(server_url, verbose=False).predict(
        "When will my order arrive?", stale, api_name="/chat")
    assert conversation_id != stale and "3-5 business days" in answer
    assert logged_turns(services, conversation_id) == [("When will my order arrive?", answer)]
    browser = gr.Request(cookies={"chatbot_visitor": new_visitor_token()}, headers={})
    *_, (history, conversation_id, *_) = ChatHandlers(services).send("Can I pay with PayPal?", [], stale, "en", {},
                                                                     browser)
    assert conversation_id != stale and "PayPal" in history[-1]["content"]
    assert services.conversations.get_transcript(stale) is None


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/upload_progress?upload_id=x"),
    ("GET", "/gradio_api/file=/etc/hostname"),
    ("GET", "/gradio_api/file/etc/hostname"),
    ("GET", "/gradio_api/proxy=https://example.com/x"),
    ("POST", "/gradio_api/process_recording"),
    ("POST", "/gradio_api/stream/1"),
])
def test_gradio_file_routes_are_closed(http: httpx.Client, method: str, path: str) -> None:
    """The chat page has no file input: nobody may upload files to it, nor fetch files from it."""
    files = {"files": ("note.html", b"<script>alert(1)</script>", "text/html")} if method == "POST" else None
    response = http.request(method, path, files=files)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


def test_the_chat_page_and_its_assets_still_load(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    config = http.get("/config")
    assert config.status_code == 200 and config.json()["title"] == "Brightmart Help Center"
    theme = http.get("/theme.css")
    assert theme.status_code == 200 and "static/fonts/" in theme.text  # fonts served by the app


def test_openapi_documents_api_and_v1_and_the_docs_pages_are_off(http: httpx.Client, services: Services) -> None:
    schema = http.get("/openapi.json").json()
    assert {"/api/ask", "/api/health", "/v1/chat/completions", "/v1/models", "/v1/models/{model}"} <= set(schema["paths"])
    assert "ChatCompletionRequest" in schema["components"]["schemas"]
    # Swagger UI and ReDoc load from a CDN: off by default (CHATBOT_API_DOCS=true turns them on).
    assert http.get("/docs").status_code == 404 and http.get("/redoc").status_code == 404
    from fastapi.testclient import TestClient

    with TestClient(create_app(services, api_docs=True)) as client:
        assert client.get("/docs").status_code == 200 and "/openapi.json" in client.get("/docs").text


def test_on_postgresql_a_nul_or_lone_surrogate_is_answered_and_logged(
        tmp_path: Path, postgres_db_url: str) -> None:
    """On PostgreSQL a NUL was a plain-text 500 on /api and "database unavailable" in a stream: now
    every door answers and logs the turn with U+FFFD, as on SQLite."""
    home = tmp_path / "home"
    home.mkdir()
    services = services_with_faq(home, FAQ_CSV, database_url=postgres_db_url)
    message = "Where is my order? \x00 When will it arrive? \ud800"
    body = json.dumps({"message": message})  # ensure_ascii: the lone surrogate travels as \ud800
    with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=60) as http:
        asked = http.post("/api/ask", content=body, headers={"content-type": "application/json"})
        answers = [asked.json()["answer"]]
        ids = [asked.json()["conversation_id"]]
        for stream in (False, True):
            request = json.dumps({"messages": [{"role": "user", "content": message}], "stream": stream})
            response = http.post("/v1/chat/completions", content=request, headers={"content-type": "application/json"})
            assert response.status_code == 200, response.text
            ids.append(response.headers["x-conversation-id"])
            if stream:
                assert response.text.rstrip().endswith("data: [DONE]") and '"error"' not in response.text
            else:
                answers.append(response.json()["choices"][0]["message"]["content"])
    assert asked.status_code == 200 and all("3-5 business days" in answer for answer in answers)
    for conversation_id in ids:
        assert logged_turns(services, conversation_id)[0][0] == "Where is my order? \ufffd When will it arrive? \ufffd"
