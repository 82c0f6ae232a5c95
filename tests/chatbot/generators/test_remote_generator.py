"""The remote (OpenAI-compatible) generator when its server fails, and the engine's fallback.

Failures are real: a closed localhost port, and a small HTTP server of the standard library
that answers 500 or 401, stalls, or breaks off a streamed answer. The remote generator talking to
a well-behaved peer (this bot's own /v1 API) is tested in tests/ui/test_openai_api.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from faq_services import services_with_faq
from live_server import free_port
from pydantic import SecretStr

from chatbot.generators.base import GeneratorError, stripped_pieces
from chatbot.generators.factory import create_generator
from chatbot.generators.remote import RemoteGenerator, RemoteOptions
from chatbot.messages import GenerationRequest
from chatbot.services import Services, build_services
from chatbot.settings import Settings
from knowledge_base.entries import Entry
from knowledge_base.retrieval.retriever import Hit

REPO_ROOT = Path(__file__).resolve().parents[3]
KEY = "sk-test-0123456789"
RETURNS = Hit(Entry("returns", "How do I return an item?", "Items can be returned within 30 days."), 0.9,
              "How do I return an item?")
REQUEST = GenerationRequest("Can I send it back?", "en", [RETURNS])
FAQ = """id,question,alternates,answer
returns,How do I return an item?,Can I send something back?|What is your return policy?,You can return any item within 30 days for a full refund.
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,"We accept Visa, Mastercard and PayPal."
"""


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


# ---- a misbehaving peer ----


@dataclass
class Peer:
    """An HTTP server that answers chat completions the way `behaviour` says, and records requests."""

    url: str = ""
    behaviour: str = "ok"  # "ok" | "500" | "401" | "stall" | "break"
    requests: list[dict] = field(default_factory=list)


def _chunk(content: str) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


@pytest.fixture
def peer() -> Iterator[Peer]:
    state = Peer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def reply(self, status: int, body: bytes, content_type: str = "application/json",
                  length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state.requests.append({"path": self.path, "authorization": self.headers.get("authorization"),
                                   "body": body})
            if state.behaviour in ("500", "401"):
                error = {"error": {"message": f"upstream says no to Bearer {KEY}", "type": "server_error"}}
                self.reply(int(state.behaviour), json.dumps(error).encode())
            elif state.behaviour == "stall":
                time.sleep(2)
            elif state.behaviour == "break":  # one piece, then the connection drops mid-answer
                self.reply(200, _chunk("Items can"), "text/event-stream", length=100_000)
                self.close_connection = True
            else:
                self.reply(200, _chunk(" \nItems can be") + _chunk(" returned. ") + b"data: [DONE]\n\n",
                           "text/event-stream")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def remote(url: str, retries: int = 0, timeout_s: float = 5.0) -> RemoteGenerator:
    return RemoteGenerator(url, RemoteOptions("peer-model", SecretStr(KEY), timeout_s, retries), 64)


def stream(generator: RemoteGenerator, request: GenerationRequest) -> Iterator[str]:
    """The pieces of `request`'s answer, its prompt built as the engine builds it: once."""
    return generator.stream(generator.prompt(request))


# ---- the generator ----


def test_the_prompt_goes_as_chat_messages_with_the_key(peer: Peer) -> None:
    assert list(stream(remote(peer.url), REQUEST)) == ["Items can be", " returned."]
    [sent] = peer.requests
    assert sent["path"] == "/v1/chat/completions" and sent["authorization"] == f"Bearer {KEY}"
    body = sent["body"]
    assert body["model"] == "peer-model" and body["stream"] is True and body["temperature"] == 0
    assert body["max_tokens"] == 64
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "[1] Q: How do I return an item?" in body["messages"][0]["content"]
    assert body["messages"][-1]["content"] == "Can I send it back?"


def test_a_server_error_is_retried_then_raised_without_the_key(peer: Peer) -> None:
    peer.behaviour = "500"
    with pytest.raises(GeneratorError) as raised:
        remote(peer.url, retries=1).generate(REQUEST)
    assert len(peer.requests) == 2  # the SDK retried once, as configured
    message = str(raised.value)
    assert message == f"the generator server at {peer.url} refused to answer: HTTP 500 upstream says no to Bearer ***"


def test_a_refusal_is_not_retried(peer: Peer) -> None:
    peer.behaviour = "401"
    with pytest.raises(GeneratorError, match="HTTP 401"):
        list(stream(remote(peer.url, retries=3), REQUEST))
    assert len(peer.requests) == 1


def test_a_stalled_server_times_out(peer: Peer) -> None:
    peer.behaviour = "stall"
    started = time.monotonic()
    with pytest.raises(GeneratorError, match=r"did not answer within 0.3 s \(1 attempt\(s\)\)"):
        list(stream(remote(peer.url, timeout_s=0.3), REQUEST))
    assert time.monotonic() - started < 1.5


def test_a_stream_that_breaks_off_raises_after_its_pieces(peer: Peer) -> None:
    peer.behaviour = "break"
    pieces = []
    with pytest.raises(GeneratorError, match="broke off its answer"):
        for piece in stream(remote(peer.url, retries=2), REQUEST):
            pieces.append(piece)
    assert pieces == ["Items can"] and len(peer.requests) == 1  # nothing is retried once shown


def test_a_closed_port_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url()
    generator = RemoteGenerator(url, RemoteOptions(max_retries=0))
    with caplog.at_level(logging.WARNING):
        generator.warm_up()  # logs, does not raise: the server may come up later
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot reach the generator server at {url} (1 attempt(s)): [Errno 111] Connection refused"]
    with pytest.raises(GeneratorError, match=rf"cannot reach the generator server at {url} .*Connection refused"):
        generator.generate(REQUEST)
    assert generator.name == f"openai:?@{url}"  # the model could not be asked for


def test_stripped_pieces_join_to_the_stripped_text() -> None:
    pieces = ["", " \n", "  Hello", " ", "world", "  ", "!", " \n "]
    out = list(stripped_pieces(pieces))
    assert "".join(out) == "".join(pieces).strip() == "Hello world  !"
    assert all(out) and out[0] == "Hello"


# ---- selection and settings ----


def test_the_factory_builds_it_from_the_setting(tmp_path: Path) -> None:
    options = RemoteOptions("qwen", SecretStr(KEY), 12.0, 4)
    generator = create_generator("openai:https://gpu-box:8000/v1/", tmp_path, remote=options, max_new_tokens=99)
    assert isinstance(generator, RemoteGenerator)
    assert generator.name == "openai:qwen@https://gpu-box:8000/v1"
    assert generator.options == options and generator.max_new_tokens == 99


@pytest.mark.parametrize(("name", "says"), [
    ("openai:", "must be http(s)://host"),
    ("openai:gpu-box:8000/v1", "must be http(s)://host"),
    ("openai:ftp://gpu-box/v1", "must be http(s)://host"),
    ("openai:http://me:sk-123@gpu-box/v1", "CHATBOT_OPENAI_API_KEY, not in the URL"),
    ("openai:http://gpu-box:99999/v1", "port"),
])
def test_a_bad_base_url_is_refused(tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        create_generator(name, tmp_path)
    assert says in str(raised.value) and "sk-123" not in str(raised.value)


def test_the_api_key_setting_is_never_shown(chatbot_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("CHATBOT_GENERATOR", "openai:http://127.0.0.1:9/v1")
    settings = Settings()
    assert settings.openai_api_key.get_secret_value() == KEY
    generator = build_services(settings, migrate=False).generator
    shown = [repr(settings), str(settings), repr(generator.options), generator.name]
    assert not any(KEY in text for text in shown)


def test_importing_the_package_does_not_import_the_sdk() -> None:
    code = "import sys, chatbot.services, chatbot.generators.factory; print('openai' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "False"


# ---- the engine falls back to the best entry ----


def services_with(home: Path, generator: str) -> Services:
    return services_with_faq(home, FAQ, generator=generator, generator_model="peer-model", openai_max_retries=0)


def test_the_engine_answers_with_the_best_entry_when_the_server_is_down(
        chatbot_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url()
    services = services_with(chatbot_home, f"openai:{url}")
    with caplog.at_level(logging.WARNING):
        events = list(services.engine.stream(None, "Can I send something back?"))
    reply = events[-1]
    assert "".join(events[:-1]) == reply.answer == "You can return any item within 30 days for a full refund."
    assert not reply.abstained and [c.entry_id for c in reply.citations] == ["returns"]
    assert reply.generator.startswith(f"extractive (fallback: cannot reach the generator server at {url}")
    trace = services.conversations.get_transcript(reply.conversation_id).messages[-1].trace
    assert trace.generator == reply.generator and len(trace.generator) <= 200
    assert [r.levelname for r in caplog.records if url in r.getMessage()] == ["WARNING"]


def test_an_answer_broken_off_midway_is_replaced_by_the_best_entry(
        chatbot_home: Path, peer: Peer) -> None:
    peer.behaviour = "break"
    services = services_with(chatbot_home, f"openai:{peer.url}")
    events = list(services.engine.stream(None, "What is your return policy?"))
    reply = events[-1]
    # Generated text is held back until checked, so the broken-off start never reaches the customer.
    assert events[:-1] == ["You can return any item within 30 days for a full refund."]
    assert reply.answer == "".join(events[:-1])
    assert reply.generator.startswith(f"extractive (fallback: the generator server at {peer.url} broke off")
