"""The hand-off inbox end to end in a real headless Chromium (Debian's `chromium`, driven by
Playwright with `executable_path`) against the real server: a customer on the chat page asks for
a person; an editor, in a second browser, finds them in the inbox with what the bot found,
takes the conversation and replies; the customer's page shows the reply without a reload, and
the customer's answer appears in the editor's self-refreshing message list. A viewer sees the
inbox without any form, and a reply posted anyway is refused.

Screenshots go to `$CHATBOT_TEST_SHOTS` when set (the README's come from there), else tmp.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from ui.server import create_app

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "a long passphrase"
WAIT_MS = 30_000
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("inbox-e2e")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("maria", "editor", PASSWORD)
        services.add_staff_user("victor", "viewer", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def sign_in(browser, url: str, name: str, viewport: dict, next_path: str):
    context = browser.new_context(viewport=viewport, locale="en-US")
    page = context.new_page()
    page.goto(f"{url}/admin/login?next={next_path}")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{next_path}")
    return context, page


def other_customers(url: str) -> None:
    """Two more people waiting, so that the inbox looks like a Monday morning."""
    for first, then in (("Can I pay with PayPal?", "Can I talk to a person please?"),
                        ("My parcel never came, order 5512", "I want to talk to a human")):
        with httpx.Client(base_url=url, timeout=60) as visitor:
            cid = visitor.post("/api/ask", json={"message": first}).json()["conversation_id"]
            assert visitor.post("/api/ask", json={"message": then, "conversation_id": cid}).json()["action"] == "handoff"


def say(page, text: str) -> None:
    before = page.locator("#chat-window .bot-row").count()
    box = page.locator("#chat-input textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#chat-window .bot-row').length >= n",
                           arg=before + 1, timeout=WAIT_MS)
    time.sleep(0.5)  # the stream's last update: the box takes the next message after it


def test_an_editor_takes_a_waiting_customer_and_the_reply_reaches_their_page(
        browser, server_url: str, services: Services, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    customer_context = browser.new_context(viewport=DESKTOP, locale="en-US")
    customer = customer_context.new_page()
    errors: list[str] = []
    customer.on("pageerror", lambda error: errors.append(str(error)))
    customer.goto(server_url)
    customer.wait_for_selector("#chat-window", timeout=WAIT_MS)
    say(customer, "When will my order arrive?")
    say(customer, "I want to talk to a human")
    token = next(c["value"] for c in customer_context.cookies() if c["name"] == "chatbot_visitor")
    cid = services.latest_conversation_for_visitor(token)
    assert cid is not None and services.messages_for_visitor(cid, token).state == "waiting"
    other_customers(server_url)

    staff_context, staff = sign_in(browser, server_url, "maria", DESKTOP, "/admin/inbox")
    outside: list[str] = []
    staff.on("request", lambda r: None if r.url.startswith(server_url) else outside.append(r.url))
    card = staff.locator(".card", has=staff.locator(f'form[action="/admin/inbox/{cid}/take"]'))
    assert "I want to talk to a human" in card.inner_text() and "waiting" in card.inner_text()
    assert staff.locator(".card").first.locator(f'form[action="/admin/inbox/{cid}/take"]').count() == 1  # oldest first
    staff.screenshot(path=str(shots / "console_inbox.png"), full_page=True)
    staff.set_viewport_size(PHONE)
    staff.screenshot(path=str(shots / "console_inbox_phone.png"), full_page=True)
    staff.set_viewport_size(DESKTOP)

    card.get_by_role("button", name="Take").click()
    staff.wait_for_url(f"{server_url}/admin/inbox/{cid}")
    assert "held by maria" in staff.inner_text("h2")
    staff.fill("#reply", "Hi, I'm Maria. Your order left our warehouse yesterday.")
    staff.get_by_role("button", name="Send").click()
    staff.wait_for_url(f"{server_url}/admin/inbox/{cid}")

    # The customer's page shows the reply without a reload; their answer reaches Maria's frame.
    customer.get_by_text("Your order left our warehouse yesterday", exact=False).wait_for(timeout=WAIT_MS)
    box = customer.locator("#chat-input textarea")  # held by Maria: the bot stays quiet, nothing to wait for
    box.fill("Great, thank you Maria!")
    box.press("Enter")
    frame = staff.frame_locator("iframe.live")
    frame.get_by_text("Great, thank you Maria!").wait_for(timeout=WAIT_MS)  # a refresh, no reload by hand
    staff.screenshot(path=str(shots / "console_inbox_conversation.png"), full_page=True)

    staff.goto(f"{server_url}/admin/conversations/{cid}")
    assert "staff:maria" in staff.inner_text("main") and staff.locator(".trace").count() >= 2
    staff.screenshot(path=str(shots / "console_transcript.png"), full_page=True)
    staff.set_viewport_size(PHONE)
    staff.screenshot(path=str(shots / "console_transcript_phone.png"), full_page=True)
    staff.set_viewport_size(DESKTOP)
    staff.goto(f"{server_url}/admin/conversations")
    staff.screenshot(path=str(shots / "console_conversations.png"), full_page=True)

    staff.goto(f"{server_url}/admin/inbox/{cid}")
    staff.get_by_role("button", name="Release to the bot").click()
    staff.wait_for_url(f"{server_url}/admin/inbox")
    deadline = time.monotonic() + 10
    while services.messages_for_visitor(cid, token).state != "bot" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert services.messages_for_visitor(cid, token).state == "bot"
    assert outside == [] and errors == []
    staff_context.close()
    customer_context.close()


def test_a_viewer_sees_the_inbox_without_forms_and_cannot_reply(browser, server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=60) as visitor:
        cid = visitor.post("/api/ask", json={"message": "I want to talk to a human"}).json()["conversation_id"]
    context, page = sign_in(browser, server_url, "victor", DESKTOP, "/admin/inbox")
    assert "editors answer" in page.inner_text("main")
    assert page.locator("main form").count() == 0
    page.goto(f"{server_url}/admin/inbox/{cid}")
    assert page.locator("main form, textarea").count() == 0
    page.frame_locator("iframe.live").get_by_text("I want to talk to a human").wait_for(timeout=WAIT_MS)
    token = page.locator("header input[name=csrf_token]").get_attribute("value")
    refused = page.request.post(f"{server_url}/admin/inbox/{cid}/reply", form={"csrf_token": token, "text": "Hi"})
    assert refused.status == 403 and "may not do this" in refused.text()
    context.close()
