"""Shared fixtures: every test gets its own CHATBOT_HOME and SQLite database."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chatbot.services import Services

# Models come from installed packages; nothing may reach a hub during tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def converted_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models converted from their packages (e5, SmolLM2) once per test session, not per test."""
    return tmp_path_factory.mktemp("converted-models")


@pytest.fixture
def chatbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, converted_models: Path) -> Path:
    """A fresh data folder, also exported as CHATBOT_HOME for code that reads the environment.

    Its database and index are its own; its `models/` folder links to the session's converted
    models, which every test would otherwise convert again.
    """
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(converted_models, target_is_directory=True)
    monkeypatch.setenv("CHATBOT_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("CHATBOT_") and name != "CHATBOT_HOME" and not name.startswith("CHATBOT_TEST_"):
            monkeypatch.delenv(name)
    return home


@pytest.fixture
def make_services(chatbot_home: Path) -> Callable[..., "Services"]:
    """Build services over this test's CHATBOT_HOME: `make_services(FAQ_CSV, top_k=2)`
    (see `faq_services.services_with_faq`)."""
    from faq_services import services_with_faq

    return lambda faq=None, **options: services_with_faq(chatbot_home, faq, **options)


# --- PostgreSQL: a real server for integration tests (see tests/pg_server.py) ---------------
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from pg_server import PostgresNotFound, PostgresServer, create_database, drop_database  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """The PostgreSQL server started for this test session; None when CHATBOT_TEST_POSTGRES_URL
    names an existing server instead (tests that stop and start the server skip then)."""
    if os.environ.get("CHATBOT_TEST_POSTGRES_URL"):
        yield None
        return
    try:
        server = PostgresServer.start_new()
    except PostgresNotFound as error:
        pytest.fail(
            f"PostgreSQL server binaries not found ({error}). Run `bash scripts/test.sh`, which "
            "installs Debian's postgresql, or set CHATBOT_TEST_POSTGRES_URL to a server of yours.",
            pytrace=False,
        )
    except (RuntimeError, LookupError, OSError) as error:
        pytest.fail(f"Could not start a test PostgreSQL server: {error}", pytrace=False)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer | None) -> str:
    """`postgresql+psycopg://...` of a database for this session: CHATBOT_TEST_POSTGRES_URL if
    set, else a database on a temporary server started on a free localhost port."""
    external = os.environ.get("CHATBOT_TEST_POSTGRES_URL")
    if external:
        return external
    assert postgres_server is not None
    return postgres_server.create_database("chatbot_test")


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty, uniquely named database on the test server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = create_database(postgres_url, name)
    yield url
    drop_database(postgres_url, name)
