"""Helpers for tests that drive a real server: a data folder per module, uvicorn on a free port.

    with module_home(tmp_path_factory.mktemp("x")) as home, running_server(create_app(services)) as url:
        httpx.get(f"{url}/api/health")
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A localhost port that nothing listens on (closed again at once: connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def module_home(folder: Path, models: Path | None = None) -> Iterator[Path]:
    """`folder/home` as CHATBOT_HOME, other CHATBOT_* variables unset, like the `chatbot_home`
    fixture but for a whole module (servers are started once per module); its `models/` links
    to `models` (the session's converted models) when given."""
    home = folder / "home"
    home.mkdir()
    if models is not None:
        (home / "models").symlink_to(models, target_is_directory=True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CHATBOT_HOME", str(home))
        for name in list(os.environ):
            if name.startswith("CHATBOT_") and name != "CHATBOT_HOME" and not name.startswith("CHATBOT_TEST_"):
                monkeypatch.delenv(name)
        yield home


@contextmanager
def running_server(app: ASGIApp, start_timeout_s: float = 30) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free localhost port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def staff_api_client(url: str, name: str, password: str, timeout_s: float = 120) -> tuple[httpx.Client, str]:
    """An HTTP client signed in to the staff API as `name` (`POST /api/admin/login`), and the
    session's CSRF token for the requests that change something."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=timeout_s)
    answer = client.post("/api/admin/login", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf_token"]
