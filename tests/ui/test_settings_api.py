"""Live settings over real HTTP (uvicorn, a real SQLite file, the real embedder on the demo KB):
an admin changes the greeting, the suggested questions and top-k, and the next /api/ask, hit
test, chat page load and widget page use them without a restart; another server process over
the same database follows within the check interval; an editor is refused; a wrong value is a
422 that says why and changes nothing; the hit-test page shows the decision and logs nothing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import gradio as gr
import httpx
import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server, staff_api_client

from chatbot.live_settings import CHECK_EVERY_S
from chatbot.services import DEMO_KB, Services, build_services
from chatbot.settings import Settings
from ui.chat.handlers import ChatHandlers
from ui.server import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase"
SHOP = "https://shop.example"
AMBIGUOUS = "I have a problem with my order"  # clarified with several options on the demo KB


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("settings-api")) as home:
        services = services_with_faq(home, DEMO_KB.read_text(encoding="utf-8"), filename="faq.jsonl", warm=True)
        services.add_staff_user("ada", "admin", PASSWORD)
        services.add_staff_user("eddie", "editor", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def signed_in(url: str, name: str) -> tuple[httpx.Client, dict[str, str]]:
    client, token = staff_api_client(url, name, PASSWORD)
    return client, {"X-CSRF-Token": token}


def greeting_on_load(services: Services, language: str = "en-US") -> tuple[str, list[str]]:
    chat = ChatHandlers(services).load(gr.Request(cookies={}, headers={"accept-language": language}))[0]
    return chat.placeholder, [example["text"] for example in chat.examples]


def test_an_admins_change_is_what_the_next_request_gets(url: str, services: Services) -> None:
    admin, csrf = signed_in(url, "ada")
    asked = httpx.post(f"{url}/api/ask", json={"message": AMBIGUOUS}, timeout=60).json()
    assert asked["action"] == "clarify" and len(asked["options"]) >= 2, asked
    assert len(admin.post("/api/admin/hit-test", headers=csrf, json={"text": AMBIGUOUS}).json()["hits"]) == 5
    site = services.add_site([SHOP])

    changed = admin.put("/api/admin/settings", headers=csrf, json={
        "top_k": 1, "greeting_en": "**Welcome to Brightmart!** Ask away.",
        "suggested_questions_en": ["Where is my order?", "Can I return a gift?"]})
    assert changed.status_code == 200, changed.text
    assert sorted(changed.json()["changed"]) == ["greeting_en", "suggested_questions_en", "top_k"]
    shown = {s["key"]: s for s in changed.json()["settings"]}
    assert shown["top_k"]["value"] == 1 and shown["top_k"]["default"] == 5 and shown["top_k"]["updated_by"] == "ada"
    try:
        asked = httpx.post(f"{url}/api/ask", json={"message": AMBIGUOUS}, timeout=60).json()
        assert len(asked["options"]) <= 1, asked  # one entry retrieved: nothing to choose between
        assert len(admin.post("/api/admin/hit-test", headers=csrf, json={"text": AMBIGUOUS}).json()["hits"]) == 1
        assert greeting_on_load(services) == ("**Welcome to Brightmart!** Ask away.",
                                              ["Where is my order?", "Can I return a gift?"])
        assert greeting_on_load(services, "zh-CN")[0].startswith("**您好")  # Chinese: the built-in greeting
        framed = httpx.get(f"{url}/widget/chat", params={"site_key": site.key}, headers={"Referer": SHOP + "/"})
        config = json.loads(re.search(r'id="widget-config">(.*?)</script>', framed.text, re.S).group(1))
        assert config["greeting"] == "**Welcome to Brightmart!** Ask away."
        assert config["suggestions"] == ["Where is my order?", "Can I return a gift?"]
        read = signed_in(url, "eddie")[0].get("/api/admin/settings").json()  # an editor may read them
        assert {s["key"]: s["value"] for s in read["settings"]}["top_k"] == 1 and read["thresholds"]["answer"] > 0
    finally:
        reset = admin.put("/api/admin/settings", headers=csrf, json={
            "top_k": None, "greeting_en": None, "suggested_questions_en": None})
        assert sorted(reset.json()["changed"]) == ["greeting_en", "suggested_questions_en", "top_k"]
    assert greeting_on_load(services)[0].startswith("**Hi! I'm the Brightmart assistant.**")


def test_another_server_process_follows_within_the_check_interval(url: str, services: Services) -> None:
    other = build_services(Settings(home=services.settings.home))  # a second process over the same database
    assert len(other.hit_test("Where is my parcel?").hits) == 5
    admin, csrf = signed_in(url, "ada")
    assert admin.put("/api/admin/settings", headers=csrf, json={"top_k": 3}).status_code == 200
    try:
        time.sleep(CHECK_EVERY_S + 0.1)
        assert len(other.hit_test("Where is my parcel?").hits) == 3
    finally:
        admin.put("/api/admin/settings", headers=csrf, json={"top_k": None})
        other.database.dispose()


def test_a_new_answer_target_moves_the_band(url: str) -> None:
    admin, csrf = signed_in(url, "ada")
    before = admin.get("/api/admin/settings").json()["thresholds"]
    moved = admin.put("/api/admin/settings", headers=csrf, json={"clarify_target_wrong_rate": 0.3}).json()
    try:
        assert moved["recalibrated"] and moved["thresholds"]["answer"] <= before["answer"]
        tested = admin.post("/api/admin/hit-test", headers=csrf, json={"text": AMBIGUOUS}).json()
        assert tested["thresholds"] == moved["thresholds"]
    finally:
        admin.put("/api/admin/settings", headers=csrf, json={"clarify_target_wrong_rate": None})
    assert admin.get("/api/admin/settings").json()["thresholds"] == before


def test_an_editor_may_not_change_settings(url: str) -> None:
    editor, csrf = signed_in(url, "eddie")
    refused = editor.put("/api/admin/settings", headers=csrf, json={"top_k": 3})
    assert refused.status_code == 403 and "needs admin" in refused.json()["detail"]
    form = editor.post("/admin/settings", data={"top_k": "3", "csrf_token": csrf["X-CSRF-Token"]})
    assert form.status_code == 403
    assert {s["key"]: s["value"] for s in editor.get("/api/admin/settings").json()["settings"]}["top_k"] == 5


@pytest.mark.parametrize("body, reason", [
    ({"top_k": 0}, "top_k must be from 1 to 20, not 0"),
    ({"top_k": 99}, "top_k must be from 1 to 20, not 99"),
    ({"clarify_target_wrong_rate": 0.75}, "must be between 0.01 and 0.5"),
    ({"greeting_zh": "好" * 501}, "greeting_zh is 501 characters; the limit is 500"),
    ({"suggested_questions_en": ["a?", "b?", "c?", "d?", "e?"]}, "at most 4 are shown"),
    ({"top_k": "lots"}, "top_k"),
    ({"colour": "red"}, "colour"),
])
def test_wrong_values_are_422_with_the_reason_and_change_nothing(url: str, body: dict, reason: str) -> None:
    admin, csrf = signed_in(url, "ada")
    answer = admin.put("/api/admin/settings", headers=csrf, json={"greeting_en": "Changed?", **body})
    assert answer.status_code == 422 and reason in json.dumps(answer.json(), ensure_ascii=False), answer.text
    values = {s["key"]: s["value"] for s in admin.get("/api/admin/settings").json()["settings"]}
    assert values["greeting_en"] == ""


def test_the_settings_form_saves_and_says_who_changed_what(url: str) -> None:
    admin, csrf = signed_in(url, "ada")
    token = csrf["X-CSRF-Token"]
    page = admin.get("/admin/settings")
    assert page.status_code == 200 and "Save changes" in page.text and "<script" not in page.text
    wrong = admin.post("/admin/settings", data={"top_k": "50", "csrf_token": token})
    assert wrong.status_code == 422 and "top_k must be from 1 to 20, not 50" in wrong.text
    saved = admin.post("/admin/settings", data={"top_k": "4", "greeting_en": "Hi <there>", "csrf_token": token})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/settings?saved=greeting_en,top_k"
    shown = admin.get(saved.headers["location"]).text
    assert "Saved: Greeting (English), Entries retrieved (top-k)." in shown
    assert "Changed by <strong>ada</strong>" in shown and "Hi &lt;there&gt;" in shown and "Hi <there>" not in shown
    emptied = admin.post("/admin/settings", data={"top_k": "", "greeting_en": "", "csrf_token": token})
    assert emptied.headers["location"] == "/admin/settings?saved=greeting_en,top_k"
    viewer_page = signed_in(url, "eddie")[0].get("/admin/settings").text
    assert "Only admins change these" in viewer_page and "Save changes" not in viewer_page


def test_the_hit_test_page_shows_the_ranked_entries_and_decision_and_logs_nothing(url: str, services: Services) -> None:
    editor, _ = signed_in(url, "eddie")
    before = services.conversations.count_turns()
    page = editor.get("/admin/hit-test", params={"q": "How long does standard delivery take?"})
    assert page.status_code == 200 and "<script" not in page.text
    assert 'class="decision d-answer"' in page.text and "Answer line" in page.text and "Clarify line" in page.text
    assert page.text.count('href="/admin/entries/') == 5 and "— detected" in page.text
    clarified = editor.get("/admin/hit-test", params={"q": AMBIGUOUS}).text
    assert "d-clarify" in clarified and "Options offered" in clarified
    refused = editor.get("/admin/hit-test", params={"q": "x" * 5000}).text
    assert "d-refused" in refused and "longer than the limit" in refused
    chinese = editor.get("/admin/hit-test", params={"q": "How long does delivery take?", "language": "zh"}).text
    assert "Chinese (zh) — chosen, not detected" in chinese
    assert services.conversations.count_turns() == before
