"""The staff console and its API over real HTTP (uvicorn on a free port, real SQLite, the real
embedder): every staff route refuses anonymous and wrong-role requests, state changes need the
CSRF token, sign-ins are limited and recover, sessions expire, and an editor's change to an
entry is what the next customer question gets."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from knowledge_base.db_models import utcnow
from ui.console.auth import SESSION_COOKIE, staff_routes
from ui.server import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase"
USERS = {"viewer": "vic", "editor": "eddie", "admin": "ada"}
# Every staff route and the least role that may use it (None: public). A route the app has and
# this table lacks fails `test_the_route_table_is_the_apps`: a new route must say who may use it.
ROUTES = {
    ("GET", "/admin/login"): None,
    ("POST", "/admin/login"): None,
    ("POST", "/api/admin/login"): None,
    ("POST", "/admin/logout"): "viewer",
    ("GET", "/admin"): "viewer",
    ("POST", "/api/admin/logout"): "viewer",
    ("GET", "/api/admin/session"): "viewer",
    ("GET", "/api/admin/entries"): "viewer",
    ("GET", "/api/admin/entries/{entry_id}"): "viewer",
    ("POST", "/api/admin/entries"): "editor",
    ("PUT", "/api/admin/entries/{entry_id}"): "editor",
    ("DELETE", "/api/admin/entries/{entry_id}"): "editor",
    ("POST", "/api/admin/hit-test"): "viewer",
    ("GET", "/api/admin/conversations/waiting"): "viewer",
    ("POST", "/api/admin/conversations/{conversation_id}/reply"): "editor",
    ("POST", "/api/admin/conversations/{conversation_id}/release"): "editor",
    ("GET", "/api/admin/users"): "admin",
    ("POST", "/api/admin/users"): "admin",
    ("DELETE", "/api/admin/users/{name}"): "admin",
    ("GET", "/admin/entries"): "viewer",
    ("GET", "/admin/entries/export"): "editor",
    ("GET", "/admin/entries/new"): "editor",
    ("POST", "/admin/entries/new"): "editor",
    ("GET", "/admin/entries/{entry_id}"): "viewer",
    ("POST", "/admin/entries/{entry_id}"): "editor",
    ("POST", "/admin/entries/{entry_id}/delete"): "editor",
    ("GET", "/admin/imports"): "editor",
    ("POST", "/admin/imports"): "editor",
    ("GET", "/admin/imports/{job_id}"): "editor",
    ("POST", "/api/admin/imports"): "editor",
    ("GET", "/api/admin/imports/{job_id}"): "editor",
    ("GET", "/api/admin/entries/export"): "editor",
    # the KB's history (ui.console.history_api, ui.console.history_pages)
    ("GET", "/api/admin/entries/{entry_id}/history"): "viewer",
    ("GET", "/api/admin/entries/{entry_id}/versions/{kb_version}"): "viewer",
    ("POST", "/api/admin/entries/{entry_id}/rollback"): "editor",
    ("GET", "/api/admin/kb/versions"): "viewer",
    ("POST", "/api/admin/kb/rollback"): "editor",
    ("GET", "/admin/entries/{entry_id}/history"): "viewer",
    ("POST", "/admin/entries/{entry_id}/rollback"): "editor",
    ("GET", "/admin/entries/{entry_id}/at/{kb_version}"): "viewer",
    ("GET", "/admin/kb/versions"): "viewer",
    ("POST", "/admin/kb/rollback"): "editor",
    # The conversation log and the hand-off inbox (ui.console.conversation_api, conversation_pages, inbox_pages).
    ("GET", "/api/admin/conversations"): "viewer",
    ("GET", "/api/admin/conversations/export"): "viewer",
    ("GET", "/api/admin/conversations/{conversation_id}"): "viewer",
    ("GET", "/api/admin/inbox"): "viewer",
    ("POST", "/api/admin/conversations/{conversation_id}/take"): "editor",
    ("POST", "/api/admin/conversations/{conversation_id}/delete-visitor-data"): "admin",
    ("GET", "/api/admin/privacy-deletions"): "admin",
    ("POST", "/api/admin/privacy-deletions"): "admin",
    ("GET", "/admin/conversations"): "viewer",
    ("GET", "/admin/conversations/{conversation_id}"): "viewer",
    ("POST", "/admin/conversations/{conversation_id}/delete-visitor-data"): "admin",
    ("GET", "/admin/privacy-deletions"): "admin",
    ("GET", "/admin/inbox"): "viewer",
    ("GET", "/admin/inbox/{conversation_id}"): "viewer",
    ("GET", "/admin/inbox/{conversation_id}/messages"): "viewer",
    ("POST", "/admin/inbox/{conversation_id}/take"): "editor",
    ("POST", "/admin/inbox/{conversation_id}/reply"): "editor",
    ("POST", "/admin/inbox/{conversation_id}/release"): "editor",
    ("GET", "/admin/hit-test"): "viewer",
    ("GET", "/admin/settings"): "viewer",
    ("POST", "/admin/settings"): "admin",
    ("GET", "/api/admin/settings"): "viewer",
    ("PUT", "/api/admin/settings"): "admin",
    ("GET", "/admin/replays"): "editor",
    ("POST", "/admin/replays"): "editor",
    ("GET", "/admin/replays/{job_id}"): "editor",
    ("GET", "/admin/replays/{job_id}/report"): "editor",
    ("GET", "/admin/analytics"): "viewer",
    ("GET", "/api/admin/analytics"): "viewer",
    ("GET", "/api/admin/unanswered"): "viewer",
    ("POST", "/api/admin/unanswered/{group}/promote"): "editor",
    ("POST", "/api/admin/turns/{turn_id}/label"): "editor",
    ("GET", "/admin/unanswered"): "viewer",
    ("POST", "/admin/unanswered/{group}/promote"): "editor",
}
ORDER = ("viewer", "editor", "admin")
# Bodies that would pass validation, so that a refusal is the gate's and not the schema's.
BODIES = {
    "/api/admin/entries": {"id": "gate-check", "question": "Gate?", "answer": "Gate."},
    "/api/admin/entries/{entry_id}": {"question": "Gate?", "answer": "Gate."},
    "/api/admin/hit-test": {"text": "How long does shipping take?"},
    "/api/admin/conversations/{conversation_id}/reply": {"text": "Hello"},
    "/api/admin/users": {"name": "gate-user", "role": "viewer", "password": PASSWORD},
    "/api/admin/entries/{entry_id}/rollback": {"to_version": 1},
    "/api/admin/kb/rollback": {"kb_version": 1_000_000},  # no such version: the gate passes, nothing changes
    "/api/admin/conversations/{conversation_id}/delete-visitor-data": {"reason": "gate check"},
    "/api/admin/privacy-deletions": {"email": "nobody@example.com", "reason": "gate check"},
    "/api/admin/settings": {"top_k": 5},  # the default: passes the gate and changes nothing
    "/api/admin/unanswered/{group}/promote": {"entry_id": "returns"},
    "/api/admin/turns/{turn_id}/label": {"entry_id": None},
}
# Pages' forms; the replay's is refused by the service (no replay starts), after the gate.
FORMS = {"/admin/logout": {}, "/admin/replays": {"limit": "not a number"}}
PARAMS = {"entry_id": "no-such-entry", "conversation_id": "0" * 32, "name": "no-such-user",
          "job_id": "20260101-000000-000000", "kb_version": "1", "group": "1-abcdef", "turn_id": "999999"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("console")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True, staff_login_attempts=3, staff_login_window_s=3)
        for role, name in USERS.items():
            services.add_staff_user(name, role, PASSWORD)
        yield services


@pytest.fixture(scope="module")
def app(services: Services):
    return create_app(services)


@pytest.fixture(scope="module")
def server_url(app) -> Iterator[str]:
    with running_server(app) as url:
        yield url


def signed_in(url: str, role: str) -> tuple[httpx.Client, str]:
    """A client signed in through the API as the user of `role`, and its CSRF token."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    answer = client.post("/api/admin/login", json={"name": USERS[role], "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == role
    return client, answer.json()["csrf_token"]


def call(client: httpx.Client, method: str, path: str, csrf: str | None = None) -> httpx.Response:
    body = BODIES.get(path)
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    filled = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
    if path in FORMS:  # a form, as the page sends it
        return client.request(method, filled, data={**FORMS[path], "csrf_token": csrf or ""}, headers=headers)
    return client.request(method, filled, json=body, headers=headers)


def test_the_route_table_is_the_apps(app) -> None:
    found = {(method, path): role for method, path, role, _ in staff_routes(app)}
    assert found == ROUTES


def test_anonymous_requests_are_refused(server_url: str) -> None:
    anonymous = httpx.Client(base_url=server_url, follow_redirects=False, timeout=60)
    for (method, path), role in ROUTES.items():
        if role is None:
            continue
        answer = call(anonymous, method, path)
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path, answer.text)
            assert "Sign in first" in answer.json()["detail"]
        else:
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].startswith("/admin/login?next=")


def test_wrong_roles_are_refused_and_right_roles_pass_the_gate(server_url: str) -> None:
    clients = {role: signed_in(server_url, role) for role in ORDER}
    for (method, path), needed in ROUTES.items():
        if needed is None or path.endswith("/logout"):
            continue  # signing out would end the session the next checks use
        for role, (client, csrf) in clients.items():
            answer = call(client, method, path, csrf)
            if ORDER.index(role) < ORDER.index(needed):
                assert answer.status_code == 403, (role, method, path, answer.text)
                assert f"Your role ({role}) may not do this" in answer.json()["detail"]
            else:
                assert answer.status_code not in (401, 403), (role, method, path, answer.text)
    admin, csrf = clients["admin"]  # what the passing calls made, undone
    assert admin.delete("/api/admin/users/gate-user", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert admin.delete("/api/admin/entries/gate-check", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_state_changes_without_the_csrf_token_are_refused(server_url: str, services: Services) -> None:
    admin, csrf = signed_in(server_url, "admin")
    changing = [(m, p) for (m, p), role in ROUTES.items() if role is not None and m != "GET"]
    assert len(changing) >= 9
    for method, path in changing:
        for token in (None, "x" + csrf[1:]):
            answer = call(admin, method, path, token)
            assert answer.status_code == 403, (method, path, token, answer.text)
            assert "CSRF token" in answer.json()["detail"]
    assert services.find_entries("gate-check").total == 0  # nothing was created
    assert admin.get("/api/admin/session").status_code == 200  # nor signed out
    # The sign-in form has its own token: a post without it (or another browser's) is refused.
    form = httpx.Client(base_url=server_url, follow_redirects=False)
    refused = form.post("/admin/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    # And the JSON sign-in takes JSON only (a cross-site form cannot send it unasked).
    assert form.post("/api/admin/login", content='{"name": "ada", "password": "a long passphrase"}',
                     headers={"content-type": "text/plain"}).status_code in (403, 422)


def test_wrong_passwords_are_limited_with_a_clear_message_and_recover(server_url: str) -> None:
    client = httpx.Client(base_url=server_url, follow_redirects=False, timeout=60)
    for _ in range(3):
        wrong = client.post("/api/admin/login", json={"name": "vic", "password": "not the password"})
        assert wrong.status_code == 401 and "name or the password is wrong" in wrong.json()["detail"]
    limited = client.post("/api/admin/login", json={"name": "vic", "password": PASSWORD})
    assert limited.status_code == 429, limited.text
    assert "Too many failed sign-ins for this account" in limited.json()["detail"]
    assert 1 <= int(limited.headers["retry-after"]) <= 3
    page = client.get("/admin/login")  # the form says it too
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = client.post("/admin/login", data={"name": "vic", "password": PASSWORD, "csrf_token": token})
    assert form.status_code == 429 and "Too many failed sign-ins" in form.text
    time.sleep(3.2)
    assert client.post("/api/admin/login", json={"name": "vic", "password": PASSWORD}).status_code == 200


def test_sessions_expire_and_signing_out_ends_them(server_url: str, services: Services) -> None:
    vic = next(u for u in services.staff_users() if u.name == "vic")
    expired = services.staff.sessions.start(vic, now=utcnow() - timedelta(seconds=services.settings.staff_session_ttl_s + 1))
    stale = httpx.Client(base_url=server_url, follow_redirects=False, cookies={SESSION_COOKIE: expired.token})
    assert stale.get("/api/admin/session").status_code == 401
    assert stale.get("/admin").status_code == 303
    client, csrf = signed_in(server_url, "viewer")
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/api/admin/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    replayed = httpx.Client(base_url=server_url, cookies={SESSION_COOKIE: cookie})
    assert replayed.get("/api/admin/session").status_code == 401  # the old cookie is worth nothing


def test_the_session_cookie_is_http_only_strict_and_expires(server_url: str) -> None:
    answer = httpx.post(f"{server_url}/api/admin/login", json={"name": "ada", "password": PASSWORD})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP here; over HTTPS it is Secure


def test_an_editors_change_is_the_next_answer(server_url: str, services: Services) -> None:
    editor, csrf = signed_in(server_url, "editor")
    headers = {"X-CSRF-Token": csrf}
    created = editor.post("/api/admin/entries", headers=headers, json={
        "id": "gift-wrap", "question": "Do you offer gift wrapping?", "alternates": ["Can you wrap my present?"],
        "answer": "Yes, gift wrapping costs $3 per item.", "category": "orders", "tags": ["gifts"]})
    assert created.status_code == 201, created.text
    assert editor.post("/api/admin/entries", headers=headers, json={
        "id": "gift-wrap", "question": "Again?", "answer": "Again."}).status_code == 409
    ask = httpx.post(f"{server_url}/api/ask", json={"message": "Do you offer gift wrapping?"}, timeout=60).json()
    assert ask["action"] == "answer" and "$3 per item" in ask["answer"], ask

    edited = editor.put("/api/admin/entries/gift-wrap", headers=headers, json={
        "question": "Do you offer gift wrapping?", "alternates": ["Can you wrap my present?"],
        "answer": "Yes, gift wrapping is free this month.", "category": "orders", "tags": ["gifts"]})
    assert edited.status_code == 200 and edited.json()["version"] > created.json()["version"]
    ask = httpx.post(f"{server_url}/api/ask", json={"message": "Do you offer gift wrapping?"}, timeout=60).json()
    assert "free this month" in ask["answer"] and "$3" not in ask["answer"], ask

    found = editor.get("/api/admin/entries", params={"text": "wrapping FREE", "category": "orders", "tag": "gifts"})
    assert [e["id"] for e in found.json()["entries"]] == ["gift-wrap"]
    assert editor.get("/api/admin/entries", params={"tag": "nothing"}).json()["total"] == 0
    assert editor.get("/api/admin/entries/gift-wrap").json()["answer"] == "Yes, gift wrapping is free this month."
    bad = editor.put("/api/admin/entries/gift-wrap", headers=headers, json={"question": "", "answer": "x"})
    assert bad.status_code == 422 and "question is empty" in bad.json()["detail"]
    assert editor.delete("/api/admin/entries/gift-wrap", headers=headers).status_code == 204
    assert editor.get("/api/admin/entries/gift-wrap").status_code == 404
    ask = httpx.post(f"{server_url}/api/ask", json={"message": "Do you offer gift wrapping?"}, timeout=60).json()
    assert "gift wrapping" not in ask["answer"]


def test_the_hit_test_shows_the_decision_and_logs_nothing(server_url: str, services: Services) -> None:
    viewer, csrf = signed_in(server_url, "viewer")
    before = services.conversations.count_turns()
    found = viewer.post("/api/admin/hit-test", headers={"X-CSRF-Token": csrf},
                        json={"text": "How many days does delivery take?"}).json()
    assert found["action"] == "answer" and found["language"] == "en"
    assert found["hits"][0]["id"] == "shipping-time" and found["hits"][0]["score"] >= found["thresholds"]["answer"]
    assert [h["score"] for h in found["hits"]] == sorted((h["score"] for h in found["hits"]), reverse=True)
    off_topic = viewer.post("/api/admin/hit-test", headers={"X-CSRF-Token": csrf},
                            json={"text": "What is the capital of Mongolia?"}).json()
    assert off_topic["action"] == "abstain"
    assert services.conversations.count_turns() == before


def test_editors_answer_and_release_waiting_conversations(server_url: str, services: Services) -> None:
    handed = httpx.post(f"{server_url}/api/ask", json={"message": "I want to talk to a human"}, timeout=60).json()
    assert handed["action"] == "handoff", handed
    cid = handed["conversation_id"]
    viewer, _ = signed_in(server_url, "viewer")
    assert cid in [w["id"] for w in viewer.get("/api/admin/conversations/waiting").json()]
    editor, csrf = signed_in(server_url, "editor")
    sent = editor.post(f"/api/admin/conversations/{cid}/reply", headers={"X-CSRF-Token": csrf},
                       json={"text": "Hi, Eddie here. How can I help?"})
    assert sent.status_code == 200 and sent.json()["held_by"] == "eddie"
    assert services.conversations.get_transcript(cid).messages[-1].author == "staff:eddie"
    released = editor.post(f"/api/admin/conversations/{cid}/release", headers={"X-CSRF-Token": csrf})
    assert released.json()["state"] == "bot"
    assert editor.post("/api/admin/conversations/" + "0" * 32 + "/release",
                       headers={"X-CSRF-Token": csrf}).status_code == 404


def test_admins_manage_accounts(server_url: str) -> None:
    admin, csrf = signed_in(server_url, "admin")
    headers = {"X-CSRF-Token": csrf}
    added = admin.post("/api/admin/users", headers=headers, json={"name": "nora", "role": "viewer", "password": PASSWORD})
    assert added.status_code == 201 and "password" not in added.text
    assert admin.post("/api/admin/users", headers=headers,
                      json={"name": "nora", "role": "viewer", "password": PASSWORD}).status_code == 409
    assert admin.post("/api/admin/users", headers=headers,
                      json={"name": "zed", "role": "viewer", "password": "short"}).status_code == 422
    assert "nora" in [u["name"] for u in admin.get("/api/admin/users").json()]
    assert admin.delete("/api/admin/users/nora", headers=headers).status_code == 204
    assert admin.delete("/api/admin/users/ada", headers=headers).status_code == 409  # the last admin


def test_the_staff_api_is_documented(server_url: str) -> None:
    paths = httpx.get(f"{server_url}/openapi.json").json()["paths"]
    assert {"/api/admin/entries", "/api/admin/hit-test", "/api/admin/users", "/api/admin/login"} <= set(paths)
    assert not any(p.startswith("/admin") for p in paths)  # the pages are not API


def test_the_landing_page_greets_the_signed_in_member_and_lists_their_api(server_url: str) -> None:
    client = httpx.Client(base_url=server_url, follow_redirects=False, timeout=60)
    form = client.get("/admin/login?next=/admin")
    assert form.status_code == 200 and "default-src 'none'" in form.headers["content-security-policy"]
    assert "<script" not in form.text and "http" not in re.sub(r'href="/[^"]*"', "", form.text).split("<body>")[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    wrong = client.post("/admin/login", data={"name": "eddie", "password": "wrong password!", "csrf_token": token})
    assert wrong.status_code == 401 and "name or the password is wrong" in wrong.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text).group(1)
    done = client.post("/admin/login", data={"name": "eddie", "password": PASSWORD, "csrf_token": token,
                                             "next": "https://evil.example/"})
    assert done.status_code == 303 and done.headers["location"] == "/admin"  # never another site
    landing = client.get("/admin")
    listed = landing.text.replace("<wbr>", "")
    assert "signed in as <strong>eddie</strong>" in landing.text and "/api/admin/entries" in listed
    assert "/api/admin/users" not in listed  # an editor's list leaves out the admins' routes
