"""The API's answers when the database is down or busy: 503 with a clear message, never a 500;
and the front doors' rule that only chatbot meets the database driver."""

from __future__ import annotations

import ast
import sqlite3
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import ui
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from chatbot.conversations.store import ConversationStore
from chatbot.conversations.database import create_db_engine, upgrade_database
from chatbot.engine import ChatEngine
from chatbot.errors import DatabaseBusy
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.services import Services
from chatbot.settings import Settings
from knowledge_base.index.snapshot import Manifest
from live_server import running_server
from ui.api.responses import DATABASE_DOWN
from ui.server import create_app

MANIFEST = Manifest("all-MiniLM-L6-v2", 384, 2, 10, 30, "abc", 0.0)


class NoRetriever:
    """The database is reached before retrieval; if it is not, nothing is retrieved."""

    kb_version = 2

    def search(self, query, k=5):
        raise AssertionError("retrieval must not run when the conversation cannot be opened")


def services_with(database, engine) -> SimpleNamespace:
    services = SimpleNamespace(engine=engine, database=database, generator=ExtractiveGenerator(),
                               index_store=SimpleNamespace(read_manifest=lambda: MANIFEST))
    services.health = partial(Services.health, services)  # the real check, on these parts
    return services


@pytest.fixture
def unreachable_database(chatbot_home: Path):
    # A SQLite file inside /proc can be neither created nor opened, as with a lost volume.
    return create_db_engine("sqlite:////proc/no-such-dir/chatbot.db")


@pytest.fixture
def client(chatbot_home: Path, unreachable_database) -> TestClient:
    settings = Settings(home=chatbot_home, generator="extractive")
    engine = ChatEngine(settings, NoRetriever(), ExtractiveGenerator(), ConversationStore(unreachable_database))
    return TestClient(create_app(services_with(unreachable_database, engine)))


def test_ask_gives_503_when_the_database_is_down(client: TestClient) -> None:
    response = client.post("/api/ask", json={"message": "Where is my order?"})
    assert response.status_code == 503
    assert response.json() == {"detail": DATABASE_DOWN}


def test_health_gives_503_when_the_database_is_down(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["detail"] == DATABASE_DOWN


def test_raw_operational_error_also_gives_503(chatbot_home: Path) -> None:
    class Failing:
        def respond(self, conversation_id, text, **options):
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    database = create_db_engine(f"sqlite:///{chatbot_home / 'chatbot.db'}")
    app = create_app(services_with(database, Failing()))
    response = TestClient(app, raise_server_exceptions=False).post("/api/ask", json={"message": "hi"})
    assert response.status_code == 503 and response.json() == {"detail": DATABASE_DOWN}


def test_a_locked_database_is_a_503_with_retry_after(chatbot_home: Path) -> None:
    url = f"sqlite:///{chatbot_home / 'chatbot.db'}"
    upgrade_database(url)
    database = create_db_engine(url, connect_args={"timeout": 0.05})
    # The product waits SQLITE_BUSY_TIMEOUT_MS for a lock; this test waits 50 ms per try.
    event.listen(database, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=50"))
    settings = Settings(home=chatbot_home, generator="extractive")
    engine = ChatEngine(settings, NoRetriever(), ExtractiveGenerator(), ConversationStore(database))
    holder = sqlite3.connect(chatbot_home / "chatbot.db")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, holding the lock
    try:
        services = services_with(database, engine)
        services.settings, services.conversations = settings, engine.store  # what /v1 uses too
        with running_server(create_app(services)) as url:
            api = httpx.post(f"{url}/api/ask", json={"message": "Where is my order?"}, timeout=30)
            v1 = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                            json={"messages": [{"role": "user", "content": "Where is my order?"}]})
    finally:
        holder.rollback()
        holder.close()
    assert api.status_code == 503 and api.json() == {"detail": DatabaseBusy.public_message}
    assert api.headers["retry-after"] == str(DatabaseBusy.RETRY_AFTER_S)
    assert v1.status_code == 503 and v1.headers["retry-after"] == str(DatabaseBusy.RETRY_AFTER_S)
    assert v1.json()["error"] == {"message": DatabaseBusy.public_message, "type": "server_error",
                                  "param": None, "code": "database_busy"}


def test_no_front_door_imports_sqlalchemy() -> None:
    """ui/ renders what chatbot returns: the driver's errors are translated in chatbot, once."""
    offenders = []
    for path in Path(ui.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "sqlalchemy"]
    assert offenders == []
