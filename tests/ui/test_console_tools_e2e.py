"""The hit-test and settings pages end to end in a real headless Chromium (Debian's `chromium`,
Playwright with `executable_path`) against the real server: a question shows its ranked entries
and the decision and logs no turn; an admin changes the greeting on the settings page and the
customer chat page greets with it at its next load, without a restart. The pages run no script
and load nothing from elsewhere.

Screenshots go to `$CHATBOT_TEST_SHOTS` when set (docs/console_hit_test.png and
docs/console_settings.png come from there), else tmp.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from ui.server import create_app

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "a long passphrase"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("console-tools")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("ada", "admin", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def signed_in_page(browser, server_url: str, size: str, path: str):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(server_url) else outside.append(request.url))
    page.goto(f"{server_url}{path}")
    page.fill("#name", "ada")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server_url}{path}")
    return context, page, outside


def shots_folder(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.mark.parametrize("size", list(SIZES))
def test_a_question_shows_its_ranked_entries_and_the_decision(browser, server_url: str, services: Services,
                                                               size: str, tmp_path: Path) -> None:
    context, page, outside = signed_in_page(browser, server_url, size, "/admin/hit-test")
    before = services.conversations.count_turns()
    page.fill("#q", "How many days until my parcel arrives?")
    page.click("main button[type=submit]")
    page.wait_for_selector(".decision")
    assert "q=How+many+days" in page.url
    rows = page.locator("main table tr")
    ranked = min(services.live.current().top_k, services.find_entries(limit=0).total)
    assert rows.count() == 1 + ranked  # the header and the ranked entries
    assert "shipping-time" in rows.nth(1).inner_text()
    assert page.inner_text(".decision") in ("Answer", "Ask “Did you mean …?”")
    assert "Answer line" in page.inner_text("dl") and "Clarify line" in page.inner_text("dl")
    page.screenshot(path=str(shots_folder(tmp_path) / f"console_hit_test_{size}.png"), full_page=True)
    assert services.conversations.count_turns() == before  # nothing logged
    assert outside == []
    context.close()


def test_an_admin_changes_the_greeting_and_the_chat_page_greets_with_it(browser, server_url: str, services: Services,
                                                                        tmp_path: Path) -> None:
    context, page, outside = signed_in_page(browser, server_url, "desktop", "/admin/settings")
    page.fill("#greeting_en", "**Welcome to Brightmart!** Our team answers in seconds.")
    page.fill("#top_k", "3")
    page.fill("#suggested_questions_en", "How long does shipping take?\nCan I pay with PayPal?")
    page.click("main button[type=submit]")
    page.get_by_role("status").wait_for()
    assert "Saved:" in page.get_by_role("status").inner_text()
    assert page.locator(".changed").count() == 3 and "Changed by ada" in page.locator(".changed").first.inner_text()
    page.screenshot(path=str(shots_folder(tmp_path) / "console_settings_desktop.png"), full_page=True)
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{server_url}/admin/settings")
    phone.screenshot(path=str(shots_folder(tmp_path) / "console_settings_phone.png"), full_page=True)
    assert outside == []

    customer = browser.new_context(locale="en-US").new_page()
    customer.goto(server_url)
    customer.get_by_text("Welcome to Brightmart!", exact=False).wait_for(timeout=WAIT_MS)
    assert customer.get_by_text("Can I pay with PayPal?", exact=True).count() == 1  # pinned
    assert customer.get_by_text("How do I return an item?", exact=True).count() == 0
    context.close()
    services.change_settings({"greeting_en": None, "top_k": None, "suggested_questions_en": None}, by="test")
