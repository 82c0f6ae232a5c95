"""The console's sign-in end to end in a real headless Chromium (Debian's `chromium`, driven by
Playwright with `executable_path`: no browser download) against the real server: the landing
page sends an anonymous browser to the form, a wrong password is said so, the right one lands
on /admin with the staff member's name and role, and signing out ends it. The page runs no
script and loads nothing from elsewhere (its CSP allows neither), so it works with both off.

Screenshots go to `$CHATBOT_TEST_SHOTS` when set (the README's come from there), else tmp.
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


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with module_home(tmp_path_factory.mktemp("console-e2e")) as home:
        services: Services = services_with_faq(home, SHOP_FAQ)
        services.add_staff_user("maria", "editor", PASSWORD)
        with running_server(create_app(services)) as url:
            yield url


@pytest.mark.parametrize("size", list(SIZES))
def test_a_staff_member_signs_in_through_the_form_and_out_again(browser, server_url: str, size: str,
                                                                tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(server_url) else outside.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{server_url}/admin")
    assert page.url == f"{server_url}/admin/login?next=/admin"  # anonymous: sent to the form
    page.fill("#name", "maria")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    page.get_by_role("alert").wait_for()
    assert "the name or the password is wrong" in page.get_by_role("alert").inner_text()
    page.screenshot(path=str(shots / f"console_login_{size}.png"))

    page.fill("#name", "maria")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server_url}/admin")
    assert "Welcome, maria" in page.inner_text("h2")
    assert "editor" in page.inner_text("header")
    listed = page.inner_text("table")
    assert "/api/admin/entries" in listed and "/api/admin/users" not in listed
    session = next(c for c in context.cookies() if c["name"] == "chatbot_staff")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.screenshot(path=str(shots / f"console_landing_{size}.png"), full_page=True)

    page.click("header button[type=submit]")  # sign out
    page.wait_for_url(f"{server_url}/admin/login")
    page.goto(f"{server_url}/admin")
    assert "/admin/login" in page.url  # the session is over
    assert outside == [] and errors == []
    context.close()
