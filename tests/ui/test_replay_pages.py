"""The console's replay pages over real HTTP (uvicorn, real SQLite, the real embedder) and in a real
headless Chromium: an editor starts a replay of the log against the KB as edited since, watches
its progress and opens its report, which runs its filter script under its own CSP with no
console error; bad input is a clear message; the pages carry no script."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.evaluation.replay_report import REPORT_CSP
from chatbot.services import Services
from knowledge_base.entries import Entry
from ui.console.auth import SESSION_COOKIE
from ui.server import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chatbot" / "evaluation"))
from replay_fixtures import log_shop_conversations  # noqa: E402

pytestmark = pytest.mark.integration
PASSWORD = "a long passphrase"
# Where to save screenshots of the pages (e.g. docs/), when set.
SHOTS = os.environ.get("CHATBOT_TEST_SCREENSHOTS")


def screenshot(tab, name: str) -> None:
    if SHOTS:
        tab.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("replay-pages")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("eddie", "editor", PASSWORD)
        log_shop_conversations(services)
        # Since the log was written, an editor changed the payment entry's answer.
        payment = services.knowledge_base.get("payment")
        services.knowledge_base.upsert([Entry(payment.id, payment.question, "Cards only, no PayPal.", payment.alternates)])
        services.sync_index()
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


@pytest.fixture(scope="module")
def editor(server_url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=server_url, follow_redirects=False, timeout=60)
    answer = client.post("/api/admin/login", json={"name": "eddie", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf_token"]


def test_bad_input_is_a_clear_message_on_the_form(editor) -> None:
    client, csrf = editor
    page = client.post("/admin/replays", data={"csrf_token": csrf, "settings": "answer_threshold"})
    assert page.status_code == 422 and "write it as key=value" in page.text
    page = client.post("/admin/replays", data={"csrf_token": csrf, "language": "fr"})
    assert page.status_code == 422 and "no logged turn matches" in page.text
    assert "<script" not in page.text


def test_an_editor_starts_a_replay_watches_it_and_opens_its_report(editor, services: Services, browser) -> None:
    client, csrf = editor
    form = client.get("/admin/replays")
    assert form.status_code == 200 and f'value="{csrf}"' in form.text and "<script" not in form.text
    before = services.conversations.count_turns()
    started = client.post("/admin/replays", data={"csrf_token": csrf, "fail_if": "resolved_rate<0.9"})
    assert started.status_code == 303, started.text
    job_page = started.headers["location"]
    assert re.fullmatch(r"/admin/replays/\d{8}-\d{6}-[0-9a-f]{6}", job_page)
    seen_progress = False
    deadline = time.monotonic() + 300
    while True:
        page = client.get(job_page)
        assert page.status_code == 200 and "<script" not in page.text
        if "Open the report" in page.text:
            break
        assert "The replay failed" not in page.text, page.text
        seen_progress |= "<progress" in page.text and 'http-equiv="refresh"' in page.text
        assert time.monotonic() < deadline, "the replay did not finish"
        time.sleep(0.5)
    assert seen_progress
    assert "2 of 7 turns changed" in page.text and "The gate passed" in page.text
    assert services.conversations.count_turns() == before  # the replay logged nothing
    assert job_page.rsplit("/", 1)[1] in client.get("/admin/replays").text  # listed

    report = client.get(f"{job_page}/report")
    assert report.status_code == 200 and report.headers["content-security-policy"] == REPORT_CSP
    assert not re.search(r"""(src|href)=["']?(https?:)?//|<link|@import""", report.text)  # no CDN, nothing fetched

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies([{"name": SESSION_COOKIE, "value": client.cookies[SESSION_COOKIE],
                          "url": str(client.base_url)}])
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{client.base_url}{job_page}/report")
    assert tab.locator("#count").inner_text() == "7 of 7 turns shown"  # the script ran under the CSP
    screenshot(tab, "replay_report")
    tab.check("#changed")
    assert tab.locator("#count").inner_text() == "2 of 7 turns shown"
    tab.fill("#q", "credit cards")
    assert tab.locator("#count").inner_text() == "1 of 7 turns shown"
    assert errors == []
    for name, viewport in (("replay_console", {"width": 1280, "height": 800}),
                           ("replay_console_phone", {"width": 390, "height": 844})):
        tab.set_viewport_size(viewport)
        tab.goto(f"{client.base_url}/admin/replays")
        screenshot(tab, name)
    tab.goto(f"{client.base_url}{job_page}")
    screenshot(tab, "replay_job_phone")
    assert errors == []
    context.close()
