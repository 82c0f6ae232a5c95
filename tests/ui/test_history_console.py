"""The knowledge base's history over real HTTP (uvicorn, real SQLite, the real embedder): the
staff API's history, entry-at-a-version and rollbacks, and, in a real headless Chromium, an
editor's change undone with the history page's form, the next customer answer following each.

Screenshots go to `$CHATBOT_TEST_SHOTS` when set (docs/console_history.png comes from there),
else tmp.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server, staff_api_client

from chatbot.services import Services
from ui.server import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
RETURNS = {"question": "How do I return an item?", "alternates": ["Can I send something back?",
                                                                  "What is your return policy?"]}
OLD_RETURNS = "You can return any item within 30 days for a full refund."
SHIPPING = {"question": "How long does shipping take?", "url": "https://help.example.com/shipping",
            "alternates": ["When will my order arrive?", "How many days does delivery take?"]}
OLD_SHIPPING = "Orders arrive in 3-5 business days within the continental US."
NEW_SHIPPING = "Orders arrive in 2-4 business days within the continental US, tracked from the day they ship."


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("history")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("eddie", "editor", PASSWORD)
        services.add_staff_user("vic", "viewer", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def signed_in(url: str, name: str) -> tuple[httpx.Client, dict[str, str]]:
    client, token = staff_api_client(url, name, PASSWORD)
    return client, {"X-CSRF-Token": token}


def ask(url: str, question: str) -> str:
    return httpx.post(f"{url}/api/ask", json={"message": question}, timeout=60).json()["answer"]


def test_the_api_shows_history_and_rolls_back(server_url: str, services: Services) -> None:
    editor, csrf = signed_in(server_url, "eddie")
    before = services.knowledge_base.current_version()
    edited = editor.put("/api/admin/entries/returns", headers=csrf, json={
        **RETURNS, "answer": "You can return any item within 60 days for store credit.", "reason": "holiday policy"})
    assert edited.status_code == 200, edited.text
    assert "60 days" in ask(server_url, "How do I return an item?")

    history = editor.get("/api/admin/entries/returns/history").json()
    latest = history["versions"][0]
    assert (latest["author"], latest["reason"], latest["change"]) == ("eddie", "holiday policy", "edited")
    assert {"op": "delete", "text": "30"} in latest["changes"][0]["spans"] and history["live"] is True
    then = editor.get(f"/api/admin/entries/returns/versions/{before}").json()
    assert (then["answer"], then["as_of"]) == (OLD_RETURNS, before)

    rolled = editor.post("/api/admin/entries/returns/rollback", headers=csrf,
                         json={"to_version": before, "reason": "holidays are over"})
    assert rolled.status_code == 200 and rolled.json()["restored"] == ["returns"], rolled.text
    assert ask(server_url, "How do I return an item?") == OLD_RETURNS
    again = editor.post("/api/admin/entries/returns/rollback", headers=csrf, json={"to_version": before})
    assert again.json() == {"kb_version": None, "changed": False, "restored": [], "deleted": []}

    created = editor.post("/api/admin/entries", headers=csrf, json={
        "id": "gift-wrap", "question": "Do you offer gift wrapping?", "answer": "Yes, for $3.", "reason": "new"})
    assert created.status_code == 201
    versions = editor.get("/api/admin/kb/versions").json()
    assert versions[0]["author"] == "eddie" and versions[0]["reason"] == "new"
    whole = editor.post("/api/admin/kb/rollback", headers=csrf, json={"kb_version": versions[1]["version"]})
    assert whole.json()["deleted"] == ["gift-wrap"] and editor.get("/api/admin/entries/gift-wrap").status_code == 404

    missing = editor.get("/api/admin/entries/gift-wrap/versions/1")
    assert missing.status_code == 404 and "did not exist yet at KB version 1" in missing.json()["detail"]
    long = editor.post("/api/admin/kb/rollback", headers=csrf, json={"kb_version": 1, "reason": "x" * 501})
    assert long.status_code == 422
    viewer, viewer_csrf = signed_in(server_url, "vic")
    assert viewer.get("/api/admin/entries/returns/history").status_code == 200
    assert viewer.post("/api/admin/kb/rollback", headers=viewer_csrf, json={"kb_version": 1}).status_code == 403
    paths = httpx.get(f"{server_url}/openapi.json").json()["paths"]
    assert {"/api/admin/entries/{entry_id}/history", "/api/admin/kb/rollback"} <= set(paths)


def test_the_pages_are_plain_html_and_escape_what_staff_wrote(server_url: str) -> None:
    editor, csrf = signed_in(server_url, "eddie")
    editor.put("/api/admin/entries/payment", headers=csrf, json={
        "question": "Which payment methods do you accept?", "answer": "Visa <b>only</b>.", "reason": "<script>x"})
    page = editor.get("/admin/entries/payment/history")
    assert page.status_code == 200 and "<script" not in page.text and "&lt;script&gt;x" in page.text
    assert "<ins>Visa &lt;b&gt;only&lt;/b&gt;.</ins>" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    at = editor.get("/admin/entries/payment/at/1")
    assert at.status_code == 200 and "We accept Visa, Mastercard, American Express and PayPal." in at.text
    assert editor.get("/admin/entries/nope/history").status_code == 404
    assert "there is no KB version 999" in editor.get("/admin/entries/payment/at/999").text
    versions = editor.get("/admin/kb/versions")
    assert versions.status_code == 200 and "Roll the whole KB back to this" in versions.text
    refused = editor.post("/admin/entries/payment/rollback", data={"to_version": "999", "csrf_token": csrf["X-CSRF-Token"]})
    assert refused.status_code == 404 and "there is no KB version 999" in refused.text  # said on the page
    no_token = editor.post("/admin/kb/rollback", data={"kb_version": "1"})
    assert no_token.status_code == 403 and "CSRF token" in no_token.json()["detail"]
    viewer, _ = signed_in(server_url, "vic")
    assert "Roll back to this version" not in viewer.get("/admin/entries/payment/history").text  # viewers read


@pytest.mark.browser
def test_an_editor_undoes_a_change_from_the_history_page(browser, server_url: str, services: Services,
                                                         tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    question = "How long does shipping take?"
    assert ask(server_url, question) == OLD_SHIPPING
    original = services.entry("shipping-time").version
    editor, csrf = signed_in(server_url, "eddie")
    edited = editor.put("/api/admin/entries/shipping-time", headers=csrf, json={
        **SHIPPING, "answer": NEW_SHIPPING, "alternates": [*SHIPPING["alternates"], "Is shipping tracked?"],
        "reason": "new carrier from Monday"})
    assert edited.status_code == 200, edited.text
    assert ask(server_url, question) == NEW_SHIPPING  # the next customer gets the new answer

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server_url}/admin/entries/shipping-time/history")
    page.wait_for_url(re.compile(r".*/admin/login\?next=.*"))  # anonymous: to the form, then back
    page.fill("#name", "eddie")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server_url}/admin/entries/shipping-time/history")
    latest = page.locator(".card").nth(1)
    assert "by eddie" in latest.inner_text() and "new carrier from Monday" in latest.inner_text()
    assert latest.locator("del").first.inner_text() == "3-5"
    assert latest.locator("ins").first.inner_text() == "2-4"
    page.screenshot(path=str(shots / "console_history.png"), full_page=True)

    oldest = page.locator(".card", has=page.locator(f"input[name=to_version][value='{original}']"))
    oldest.locator("input[name=reason]").fill("the carrier deal fell through")
    oldest.locator("button").click()
    page.wait_for_url(re.compile(r".*/history\?rolled_back=\d+"))
    assert "Rolled back" in page.get_by_role("status").inner_text()
    assert ask(server_url, question) == OLD_SHIPPING  # the rollback is the next answer

    newest = page.locator(".card").nth(1).inner_text()
    assert "by eddie" in newest and "the carrier deal fell through" in newest and "(now)" in newest
    assert f"back to what version {original} said" in newest
    cards = page.locator(".card").all_inner_texts()
    assert sum("by eddie" in card for card in cards) == 2  # both changes, each with its author
    page.screenshot(path=str(shots / "console_history_rolled_back.png"), full_page=True)
    phone = browser.new_context(viewport=dict(zip(("width", "height"), SIZES["phone"])), locale="en-US",
                                storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{server_url}/admin/entries/shipping-time/history")
    small.screenshot(path=str(shots / "console_history_phone.png"), full_page=True)
    small.goto(f"{server_url}/admin/kb/versions")
    small.screenshot(path=str(shots / "console_kb_versions_phone.png"), full_page=True)
    page.goto(f"{server_url}/admin/kb/versions")
    page.screenshot(path=str(shots / "console_kb_versions.png"), full_page=True)
    page.goto(f"{server_url}/admin/entries/shipping-time/at/{original}")  # where a transcript's turn links
    assert OLD_SHIPPING in page.inner_text("main")
    page.screenshot(path=str(shots / "console_entry_at.png"), full_page=True)
    assert errors == []
    phone.close()
    context.close()
