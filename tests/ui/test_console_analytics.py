"""The analytics page and its API over real HTTP (uvicorn, real SQLite, a log made by the real
engine), and the page in a real headless Chromium: every chart is an image that loads, under
the console's CSP, with no console error; an empty range says "No data"; bad dates are clear
422s (API) or 400s (page).

Screenshots go to `$CHATBOT_TEST_SHOTS` when set, else tmp.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from analytics_log import SMALL_LOG_EXPECTED, small_log
from faq_services import services_with_faq
from live_server import module_home, running_server

from chatbot.services import DEMO_KB, Services
from ui.server import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase"
FIRST = date(2026, 3, 1)
RANGE = {"start": "2026-03-01", "end": "2026-03-03"}
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
CHARTS = 8  # conversations, turns by decision, outcomes, feedback, entries, unanswered, languages, latency


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("analytics-ui")) as home:
        services = services_with_faq(home, DEMO_KB.read_text(encoding="utf-8"), filename="faq.jsonl")
        small_log(services, FIRST)
        services.add_staff_user("vic", "viewer", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


@pytest.fixture(scope="module")
def viewer(server_url: str) -> httpx.Client:
    client = httpx.Client(base_url=server_url, follow_redirects=False, timeout=120)
    assert client.post("/api/admin/login", json={"name": "vic", "password": PASSWORD}).status_code == 200
    return client


def test_the_api_returns_the_services_numbers(viewer: httpx.Client, services: Services) -> None:
    answer = viewer.get("/api/admin/analytics", params=RANGE)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data == services.analytics(FIRST, FIRST + timedelta(days=2)).to_dict()
    assert data["resolution"]["rate"] == SMALL_LOG_EXPECTED["resolution"]["rate"]
    assert [d["day"] for d in data["days"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    api = viewer.get("/api/admin/analytics", params={**RANGE, "channel": "api"}).json()
    assert api["deflection"] == {"conversations": 1, "reached_human": 1, "rate": 0.0}
    default = viewer.get("/api/admin/analytics").json()  # the last 30 days, to today
    assert len(default["days"]) == 30 and default["end"] == date.today().isoformat()


def test_bad_dates_are_clear_errors(viewer: httpx.Client) -> None:
    wrong = viewer.get("/api/admin/analytics", params={"start": "March"})
    assert wrong.status_code == 422 and "must be a day like 2026-11-01" in wrong.json()["detail"]
    reversed_ = viewer.get("/api/admin/analytics", params={"start": "2026-03-03", "end": "2026-03-01"})
    assert reversed_.status_code == 422 and "after it ends" in reversed_.json()["detail"]
    page = viewer.get("/admin/analytics", params={"start": "2026-03-03", "end": "2026-03-01"})
    assert page.status_code == 400 and 'role="alert"' in page.text and "after it ends" in page.text


def test_the_page_has_a_chart_and_a_table_for_each_measure(viewer: httpx.Client) -> None:
    page = viewer.get("/admin/analytics", params=RANGE)
    assert page.status_code == 200 and "script" not in page.headers["content-security-policy"]
    assert len(re.findall(r'<img class="chart" src="data:image/png;base64,', page.text)) == CHARTS
    assert page.text.count("<details>") == CHARTS
    assert "50%" in page.text and "71%" in page.text  # resolution, deflection
    assert "What is the capital of Peru?" in page.text and "How long does standard delivery take?" in page.text
    empty = viewer.get("/admin/analytics", params={"start": "2025-01-01", "end": "2025-01-31"})
    assert empty.status_code == 200 and "No data in this range" in empty.text  # the tables; the charts say it too
    assert len(re.findall(r'src="data:image/png', empty.text)) == CHARTS  # charts that say "no data"


@pytest.mark.browser
@pytest.mark.parametrize("size", list(SIZES))
def test_the_page_renders_its_charts_in_a_browser(browser, server_url: str, size: str, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{server_url}/admin/analytics?start=2026-03-01&end=2026-03-03")
    page.fill("#name", "vic")  # anonymous: the sign-in form first, then back here
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/analytics\?start=2026-03-01.*"))
    images = page.locator("img.chart")
    assert images.count() == CHARTS
    loaded = images.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert all(loaded), loaded
    # Scaled to the column on a desktop; on a phone each chart scrolls in its box, never the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.select_option("#channel", "api")  # the filter form: a GET back to this page
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*channel=api.*"))
    assert page.locator(".tile b").first.inner_text() == "1"
    page.screenshot(path=str(shots / f"console_analytics_{size}.png"), full_page=True)
    assert problems == []
    context.close()
