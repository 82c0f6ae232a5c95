"""Shared fixtures: every test gets its own CHATBOT_HOME and SQLite database."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.conversations.store import ConversationStore

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


# --- A real headless Chromium for the pages, the widget and the console -----------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright (`executable_path`: Playwright never downloads a
    browser here); one for the whole session, each test opening its own contexts."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Debian's chromium is a test requirement: scripts/test.sh installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator["ConversationStore"]:
    """A conversation store on an upgraded SQLite file, and on a fresh PostgreSQL database."""
    from chatbot.conversations.database import create_db_engine, upgrade_database
    from chatbot.conversations.store import ConversationStore

    url = (f"sqlite:///{tmp_path / 'chatbot.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db_url"))
    upgrade_database(url)
    engine = create_db_engine(url)
    yield ConversationStore(engine)
    engine.dispose()
