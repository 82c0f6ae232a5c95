"""The API's answers when the database is down: 503 with a clear message, never a 500."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from chatbot.conversations.store import ConversationStore
from chatbot.conversations.database import create_db_engine
from chatbot.engine import ChatEngine
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.settings import Settings
from knowledge_base.index.snapshot import Manifest
from ui.server import DATABASE_DOWN, create_app

MANIFEST = Manifest("all-MiniLM-L6-v2", 384, 2, 10, 30, "abc", 0.0)


class NoRetriever:
    """The database is reached before retrieval; if it is not, nothing is retrieved."""

    kb_version = 2

    def search(self, query, k=5):
        raise AssertionError("retrieval must not run when the conversation cannot be opened")


def services_with(database, engine) -> SimpleNamespace:
    return SimpleNamespace(engine=engine, database=database, generator=ExtractiveGenerator(),
                           index_store=SimpleNamespace(read_manifest=lambda: MANIFEST))


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
        def respond(self, conversation_id, text):
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    database = create_db_engine(f"sqlite:///{chatbot_home / 'chatbot.db'}")
    app = create_app(services_with(database, Failing()))
    response = TestClient(app, raise_server_exceptions=False).post("/api/ask", json={"message": "hi"})
    assert response.status_code == 503 and response.json() == {"detail": DATABASE_DOWN}
