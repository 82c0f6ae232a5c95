"""No exception reaches the HTTP server: real failures behind a real uvicorn server.

A generator with a bug (`ScriptedGenerator(fail_after=1)`) and a database that lost a table (a
migration not run) fail for real; each door answers a JSON 500 in its own shape with an error id
that is in the log beside the traceback, a started stream ends with an error event and
`data: [DONE]`, and the same keep-alive connection goes on serving the next request.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server
from scripted_generator import ScriptedGenerator
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Mount, Route

from chatbot.engine import ChatEngine
from chatbot.services import Services
from ui.api.internal_errors import UNEXPECTED, protect
from ui.server import create_app

pytestmark = pytest.mark.integration

FAQ_CSV = """\
id,question,alternates,answer
shipping-time,How long does shipping take?,When will my order arrive?,Orders arrive in 3-5 business days.
returns,How do I return an item?,Can I send something back?,You can return any item within 30 days.
"""
ANSWERED = "When will my order arrive?"  # generated: the failing generator is called
OUT_OF_SCOPE = "What's the capital of Peru?"  # abstained: no generator, no failure


class Records(logging.Handler):
    """Every record of a logger, kept (uvicorn's loggers do not propagate to pytest's caplog)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> "Records":
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


def client_port(response: httpx.Response) -> int:
    """The local port of the connection that carried `response`: the same one means kept alive."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def logged_once_with_traceback(caplog: pytest.LogCaptureFixture, error_id: str) -> None:
    found = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(found) == 1, [r.getMessage() for r in found]
    assert found[0].levelno == logging.ERROR and found[0].exc_info is not None


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with module_home(tmp_path_factory.mktemp("internal-errors")) as home:
        yield home


@pytest.fixture(scope="module")
def failing(home: Path) -> Iterator[tuple[str, Services]]:
    """A server whose generator has a bug: every turn it is asked to write fails."""
    services = services_with_faq(home, FAQ_CSV, warm=True)
    services.engine = ChatEngine(services.settings, services.retriever,
                                 ScriptedGenerator("Orders arrive in 3-5 business days.", fail_after=1),
                                 services.conversations)
    with running_server(create_app(services)) as url:
        yield url, services


@pytest.fixture
def uvicorn_errors() -> Iterator[Records]:
    with Records("uvicorn.error") as records:
        yield records


def test_a_bug_is_a_json_500_with_its_logged_id_and_the_connection_lives_on(
        failing: tuple[str, Services], caplog: pytest.LogCaptureFixture, uvicorn_errors: Records) -> None:
    caplog.set_level(logging.ERROR)
    url, services = failing
    with httpx.Client(base_url=url, timeout=60) as http:
        doors = [
            ("/api/ask", {"message": ANSWERED}, {"message": OUT_OF_SCOPE}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": ANSWERED}]},
             {"messages": [{"role": "user", "content": OUT_OF_SCOPE}]}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": ANSWERED}], "stream": True},
             {"messages": [{"role": "user", "content": OUT_OF_SCOPE}], "stream": True}),
        ]
        ports = set()
        for path, failing, good in doors:
            failed = http.post(path, json=failing)
            assert failed.status_code == 500, failed.text
            assert failed.headers["content-type"] == "application/json"
            body = failed.json()
            if path.startswith("/api/"):
                assert set(body) == {"detail", "error_id"} and body["detail"] == UNEXPECTED
                error_id = body["error_id"]
            else:
                error = body["error"]
                assert (error["message"], error["type"], error["code"]) == (UNEXPECTED, "server_error",
                                                                            "internal_error")
                error_id = error["error_id"]
            assert "scripted failure" not in failed.text  # the traceback is for the log only
            logged_once_with_traceback(caplog, error_id)
            answered = http.post(path, json=good)
            assert answered.status_code == 200 and "support team" in answered.text
            ports |= {client_port(failed), client_port(answered)}
    assert len(ports) == 1  # one keep-alive connection carried every request, failures included
    assert not [r for r in uvicorn_errors.records if r.levelno >= logging.ERROR]
    # The failed turns started no conversation: only the three answered ones are stored.
    assert [c.turns for c in services.conversations.list_conversations()] == [1, 1, 1]


def test_a_stream_that_fails_midway_ends_with_an_error_event_and_done(
        tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture,
        uvicorn_errors: Records) -> None:
    caplog.set_level(logging.ERROR)
    with module_home(tmp_path_factory.mktemp("lost-table")) as home:
        services: Services = services_with_faq(home, FAQ_CSV, warm=True)
        # A database that lost a table (a migration not run): the turn is answered, then its log fails.
        with sqlite3.connect(home / "chatbot.db") as database:
            database.executescript("PRAGMA foreign_keys=OFF; DROP TABLE turn_labels; DROP TABLE turn_traces;")
        with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=60) as http:
            body = {"messages": [{"role": "user", "content": ANSWERED}], "stream": True}
            with http.stream("POST", "/v1/chat/completions", json=body) as streamed:
                assert streamed.status_code == 200
                lines = [line for line in streamed.iter_lines() if line]
            models = http.get("/v1/models")
            asked = http.post("/api/ask", json={"message": ANSWERED})
            health = http.get("/api/health")
            ports = {client_port(r) for r in (streamed, models, asked, health)}
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2][len("data: "):])["error"]
    assert (error["message"], error["code"]) == (UNEXPECTED, "internal_error")
    answer = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "") for line in lines[:-2])
    assert answer == "Orders arrive in 3-5 business days."  # sent before the log failed
    logged_once_with_traceback(caplog, error["error_id"])
    assert asked.status_code == 500 and asked.json()["detail"] == UNEXPECTED
    logged_once_with_traceback(caplog, asked.json()["error_id"])
    assert models.status_code == 200 and health.status_code == 200
    assert len(ports) == 1  # one keep-alive connection carried them all
    assert not [r for r in uvicorn_errors.records if r.levelno >= logging.ERROR]


def broken_app() -> Starlette:
    """Responses that fail after their headers were sent, outside any handler's reach."""

    def failing(first: str):
        yield first
        raise RuntimeError("broken after the first chunk")

    def events(request):
        return StreamingResponse(failing('data: {"n": 1}\n\n'), media_type="text/event-stream")

    def text(request):
        return StreamingResponse(failing("partial "), media_type="text/plain")

    def fine(request):
        return StreamingResponse(iter(["ok"]), media_type="text/plain")

    app = Starlette(routes=[Route("/events", events), Route("/text", text), Route("/fine", fine)])
    protect(app)
    return app


def test_the_net_ends_a_started_response_cleanly(caplog: pytest.LogCaptureFixture,
                                                 uvicorn_errors: Records) -> None:
    caplog.set_level(logging.ERROR)
    with running_server(broken_app()) as url, httpx.Client(base_url=url, timeout=30) as http:
        events, fine, text, again = http.get("/events"), http.get("/fine"), http.get("/text"), http.get("/fine")
        ports = {client_port(r) for r in (events, fine, text, again)}
    lines = [line for line in events.text.splitlines() if line]
    assert lines[0] == 'data: {"n": 1}' and lines[-1] == "data: [DONE]"
    error = json.loads(lines[1][len("data: "):])["error"]
    assert error["code"] == "internal_error"
    logged_once_with_traceback(caplog, error["error_id"])
    assert text.status_code == 200 and text.text == "partial "  # ended where it broke
    assert fine.text == again.text == "ok"
    assert len(ports) == 1
    assert not [r for r in uvicorn_errors.records if r.levelno >= logging.ERROR]


def test_a_failure_inside_the_chat_pages_app_is_a_json_500_with_its_id(
        failing: tuple[str, Services], caplog: pytest.LogCaptureFixture, uvicorn_errors: Records) -> None:
    caplog.set_level(logging.ERROR)
    app = create_app(failing[1])
    [gradio_app] = [r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, gr.routes.App)]

    def broken() -> None:  # a route of the Gradio app with a bug, as one of Gradio's own could have
        raise RuntimeError("a bug in the chat page's app")

    gradio_app.add_api_route("/broken", broken)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        failed, page = http.get("/broken"), http.get("/")
        ports = {client_port(failed), client_port(page)}
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
    logged_once_with_traceback(caplog, failed.json()["error"]["error_id"])
    assert page.status_code == 200 and len(ports) == 1
    assert not [r for r in uvicorn_errors.records if r.levelno >= logging.ERROR]
