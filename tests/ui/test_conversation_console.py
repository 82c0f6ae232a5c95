"""The conversation log and the hand-off inbox over real HTTP (uvicorn on a free port, real SQLite,
the shipped embedder): customers talk through /api/ask; staff search, read transcripts with
traces, export, take, reply and release, and an admin deletes a visitor's data. Viewers read
everything and change nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server, staff_api_client

from chatbot.services import Services
from ui.server import create_app

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase"
USERS = {"viewer": "vic", "editor": "eddie", "admin": "ada"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("conversation-console")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        for role, name in USERS.items():
            services.add_staff_user(name, role, PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def signed_in(url: str, role: str) -> tuple[httpx.Client, str]:
    client, token = staff_api_client(url, USERS[role], PASSWORD)
    return client, token


def customer_asks_for_a_human(url: str) -> tuple[httpx.Client, str, int]:
    """A visitor asks about shipping, gives it a thumbs down, then asks for a person: (their
    client, the conversation id, the answered turn's id)."""
    visitor = httpx.Client(base_url=url, timeout=60)
    answered = visitor.post("/api/ask", json={"message": "How long does shipping take?"}).json()
    cid = answered["conversation_id"]
    assert visitor.post("/api/feedback", json={"turn_id": answered["turn_id"], "rating": "down",
                                               "comment": "Too slow"}).status_code == 200
    handed = visitor.post("/api/ask", json={"message": "I want to talk to a human", "conversation_id": cid}).json()
    assert handed["action"] == "handoff", handed
    return visitor, cid, answered["turn_id"]


def test_staff_search_read_and_export_what_customers_said(server_url: str) -> None:
    _, cid, turn = customer_asks_for_a_human(server_url)
    viewer, _ = signed_in(server_url, "viewer")
    found = viewer.get("/api/admin/conversations", params={"action": "handoff", "feedback": "down"}).json()
    assert cid in [c["id"] for c in found["conversations"]]
    listed = next(c for c in found["conversations"] if c["id"] == cid)
    assert listed["actions"][:1] == ["answer"] and "handoff" in listed["actions"] and listed["state"] == "waiting"
    assert listed["first_question"] == "How long does shipping take?" and listed["thumbs_down"] == 1
    assert viewer.get("/api/admin/conversations", params={"text": "no such words anywhere"}).json()["total"] == 0
    bad = viewer.get("/api/admin/conversations", params={"date_from": "last week"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["detail"]

    detail = viewer.get(f"/api/admin/conversations/{cid}").json()
    answer = detail["messages"][1]
    assert answer["author"] == "bot" and answer["trace"]["turn_id"] == turn
    assert answer["trace"]["entries"][0]["id"] == "shipping-time" and answer["trace"]["decision"] == "answer"
    assert answer["trace"]["kb_version"] >= 1 and answer["trace"]["feedback"]["rating"] == "down"
    assert detail["messages"][0]["trace"] is None  # the trace goes under the answer
    assert viewer.get("/api/admin/conversations/" + "0" * 32).status_code == 404

    exported = viewer.get("/api/admin/conversations/export", params={"format": "csv", "action": "handoff"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = [r for r in csv.DictReader(io.StringIO(exported.text)) if r["conversation_id"] == cid]
    assert [r["decision"] for r in rows] == ["answer", "handoff"] and rows[0]["feedback"] == "down"
    lines = viewer.get("/api/admin/conversations/export", params={"format": "jsonl"}).text.splitlines()
    assert any(json.loads(line)["conversation_id"] == cid for line in lines)
    assert viewer.get("/api/admin/conversations/export", params={"format": "xml"}).status_code == 422

    inbox = viewer.get("/api/admin/inbox").json()
    mine = next(i for i in inbox if i["id"] == cid)
    assert mine["state"] == "waiting" and mine["question"] == "I want to talk to a human"
    assert mine["found"][0]["id"] == "shipping-time"


def test_a_viewer_sees_the_inbox_but_cannot_reply(server_url: str) -> None:
    _, cid, _ = customer_asks_for_a_human(server_url)
    viewer, csrf = signed_in(server_url, "viewer")
    inbox = viewer.get("/admin/inbox")
    assert inbox.status_code == 200 and "I want to talk to a human" in inbox.text
    assert "<form" not in inbox.text.split("</header>")[1]  # no form but the header's sign-out
    assert '<meta http-equiv="refresh"' in inbox.text and "<script" not in inbox.text
    page = viewer.get(f"/admin/inbox/{cid}")
    assert page.status_code == 200 and "<textarea" not in page.text and "Take" not in page.text
    for action in ("take", "reply", "release"):
        refused = viewer.post(f"/admin/inbox/{cid}/{action}", data={"csrf_token": csrf, "text": "Hello"})
        assert refused.status_code == 403, action
    assert viewer.post(f"/api/admin/conversations/{cid}/reply", headers={"X-CSRF-Token": csrf},
                       json={"text": "Hello"}).status_code == 403
    assert viewer.get(f"/api/admin/conversations/{cid}").json()["conversation"]["state"] == "waiting"


def test_an_editor_takes_replies_and_releases_through_the_pages(server_url: str) -> None:
    visitor, cid, _ = customer_asks_for_a_human(server_url)
    editor, csrf = signed_in(server_url, "editor")
    inbox = editor.get("/admin/inbox").text
    assert f'action="/admin/inbox/{cid}/take"' in inbox
    taken = editor.post(f"/admin/inbox/{cid}/take", data={"csrf_token": csrf})
    assert taken.status_code == 303 and taken.headers["location"] == f"/admin/inbox/{cid}"
    page = editor.get(f"/admin/inbox/{cid}")
    assert "<textarea" in page.text and "frame-src 'self'" in page.headers["content-security-policy"]
    frame = editor.get(f"/admin/inbox/{cid}/messages")
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert frame.headers["x-frame-options"] == "SAMEORIGIN" and "I want to talk to a human" in frame.text
    assert editor.post(f"/admin/inbox/{cid}/take", data={}).status_code == 403  # no CSRF token

    empty = editor.post(f"/admin/inbox/{cid}/reply", data={"csrf_token": csrf, "text": "   "})
    assert empty.status_code == 422 and 'role="alert"' in empty.text and "reply is empty" in empty.text
    sent = editor.post(f"/admin/inbox/{cid}/reply", data={"csrf_token": csrf, "text": "Hi, Eddie <here>."})
    assert sent.status_code == 303
    feed = visitor.get(f"/api/conversations/{cid}/messages").json()
    assert (feed["messages"][-1]["author"], feed["messages"][-1]["name"]) == ("staff", "eddie")
    assert feed["messages"][-1]["text"] == "Hi, Eddie <here>." and feed["state"] == "human"
    assert "Hi, Eddie &lt;here&gt;." in editor.get(f"/admin/inbox/{cid}/messages").text
    quiet = visitor.post("/api/ask", json={"message": "Thanks! Any news?", "conversation_id": cid}).json()
    assert quiet["answer"] == ""  # held: the bot stays quiet, the message waits for Eddie
    assert "Thanks! Any news?" in editor.get(f"/admin/inbox/{cid}/messages").text

    released = editor.post(f"/admin/inbox/{cid}/release", data={"csrf_token": csrf})
    assert released.status_code == 303 and released.headers["location"] == "/admin/inbox"
    assert visitor.get(f"/api/conversations/{cid}/messages").json()["state"] == "bot"
    taken = editor.post(f"/api/admin/conversations/{cid}/take", headers={"X-CSRF-Token": csrf})
    assert taken.json() == {"conversation_id": cid, "state": "human", "held_by": "eddie", "message_id": None}


def test_the_list_and_transcript_pages_show_filters_traces_and_links(server_url: str) -> None:
    _, cid, _ = customer_asks_for_a_human(server_url)
    viewer, _ = signed_in(server_url, "viewer")
    listed = viewer.get("/admin/conversations", params={"action": "handoff"})
    assert listed.status_code == 200 and f'href="/admin/conversations/{cid}"' in listed.text
    assert "/api/admin/conversations/export?action=handoff&amp;format=csv" in listed.text
    assert viewer.get("/admin/conversations", params={"date_to": "soon"}).status_code == 422
    transcript = viewer.get(f"/admin/conversations/{cid}").text
    version = re.search(r'href="/admin/entries/shipping-time/at/(\d+)"', transcript)
    assert version and int(version.group(1)) >= 1
    assert "customer ·" in transcript and "bot ·" in transcript and "Too slow" in transcript
    assert "Delete for good" not in transcript  # admins only


def test_an_admin_deletes_a_visitors_data_and_it_is_recorded(server_url: str, services: Services) -> None:
    visitor, cid, _ = customer_asks_for_a_human(server_url)
    second = visitor.post("/api/ask", json={"message": "Can I pay with PayPal?"}).json()["conversation_id"]
    editor, editor_csrf = signed_in(server_url, "editor")
    assert editor.post(f"/api/admin/conversations/{cid}/delete-visitor-data", headers={"X-CSRF-Token": editor_csrf},
                       json={"reason": "asked"}).status_code == 403
    admin, csrf = signed_in(server_url, "admin")
    assert "Delete for good" in admin.get(f"/admin/conversations/{cid}").text
    missing = admin.post(f"/api/admin/conversations/{cid}/delete-visitor-data", headers={"X-CSRF-Token": csrf},
                         json={"reason": " "})
    assert missing.status_code == 422 and "why" in missing.json()["detail"]
    done = admin.post(f"/admin/conversations/{cid}/delete-visitor-data", data={"csrf_token": csrf,
                                                                              "reason": "Ticket 4411"})
    assert done.status_code == 303 and done.headers["location"] == "/admin/privacy-deletions"
    [record] = [r for r in admin.get("/api/admin/privacy-deletions").json() if r["reason"] == "Ticket 4411"]
    assert record["deleted_by"] == "ada" and record["conversations"] == 2 and record["turns"] == 3
    assert "Ticket 4411" in admin.get("/admin/privacy-deletions").text
    for gone in (cid, second):
        assert admin.get(f"/api/admin/conversations/{gone}").status_code == 404
        assert visitor.get(f"/api/conversations/{gone}/messages").status_code == 404
    exported = admin.get("/api/admin/conversations/export", params={"format": "jsonl"}).text
    assert cid not in exported and second not in exported
    assert admin.post("/api/admin/privacy-deletions", headers={"X-CSRF-Token": csrf},
                      json={"email": "nobody@example.com", "reason": "asked"}).status_code == 404
