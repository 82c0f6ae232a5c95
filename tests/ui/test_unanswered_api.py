"""The unanswered queue over real HTTP (uvicorn on a free port, real SQLite, the real embedder):
customers' unanswered questions grouped for staff, a viewer refused the promotion an editor
makes, the promoted question answered next time, labels through the API, and the console page
(forms for editors only, a form post that promotes)."""

from __future__ import annotations

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
DOGS = ["Are dogs allowed in your store?", "Can I bring my dog inside the store?", "Is my dog welcome in the shop?",
        "Do you allow pets in the store?", "Can dogs come into your store?"]
STUDENTS = ["Is there a student discount?", "Do students get a discount?", "Can I get a discount as a student?",
            "Do you offer discounts for students?"]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("queue")) as home:
        services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("vic", "viewer", PASSWORD)
        services.add_staff_user("eddie", "editor", PASSWORD)
        yield services


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


def signed_in(url: str, name: str) -> tuple[httpx.Client, str]:
    client, token = staff_api_client(url, name, PASSWORD)
    return client, token


def ask(url: str, message: str) -> dict:
    return httpx.post(f"{url}/api/ask", json={"message": message}, timeout=120).json()


def test_a_group_is_listed_refused_to_a_viewer_and_promoted_by_an_editor(server_url: str) -> None:
    for question in DOGS:
        assert ask(server_url, question)["action"] in ("abstain", "clarify")
    viewer, viewer_csrf = signed_in(server_url, "vic")
    groups = viewer.get("/api/admin/unanswered").json()
    top = groups[0]
    assert top["count"] == 5 and sorted(top["examples"]) == sorted(DOGS) and top["languages"] == ["en"]
    assert set(top) >= {"group", "count", "examples", "languages", "first_seen", "last_seen", "reasons"}
    assert viewer.get("/api/admin/unanswered", params={"since": "2999-01-01"}).json() == []
    assert viewer.get("/api/admin/unanswered", params={"since": "last week"}).status_code == 422

    body = {"new_id": "dogs", "answer": "Dogs on a leash are welcome."}
    refused = viewer.post(f"/api/admin/unanswered/{top['group']}/promote", json=body,
                          headers={"X-CSRF-Token": viewer_csrf})
    assert refused.status_code == 403 and "Your role (viewer) may not do this" in refused.json()["detail"]
    assert ask(server_url, DOGS[1])["action"] in ("abstain", "clarify")  # nothing changed

    editor, csrf = signed_in(server_url, "eddie")
    done = editor.post(f"/api/admin/unanswered/{top['group']}/promote", json=body, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    assert done.json()["created"] and done.json()["labelled_turns"] >= 5 and done.json()["entry"]["id"] == "dogs"
    answered = ask(server_url, DOGS[1])
    assert answered["action"] == "answer" and answered["sources"][0]["id"] == "dogs", answered
    again = editor.post(f"/api/admin/unanswered/{top['group']}/promote", json={"entry_id": "dogs"},
                        headers={"X-CSRF-Token": csrf})
    assert again.status_code == 404 and "promoted or labelled already" in again.json()["detail"]
    assert editor.post("/api/admin/unanswered/x/promote", json={"entry_id": "dogs", "new_id": "x"},
                       headers={"X-CSRF-Token": csrf}).status_code in (404, 422)


def test_an_editor_labels_a_turn_and_its_question_becomes_a_phrasing(server_url: str, services: Services) -> None:
    turn = ask(server_url, "Can I pay with a cheque by post?")["turn_id"]
    editor, csrf = signed_in(server_url, "eddie")
    headers = {"X-CSRF-Token": csrf}
    labelled = editor.post(f"/api/admin/turns/{turn}/label", headers=headers,
                           json={"entry_id": "payment", "review": "corrected",
                                 "corrected_answer": "We accept cards and PayPal, not cheques."})
    assert labelled.status_code == 200, labelled.text
    assert labelled.json()["labelled_by"] == "eddie" and labelled.json()["review"] == "corrected"
    assert "Can I pay with a cheque by post?" in services.entry("payment").alternates
    assert editor.post("/api/admin/turns/999999/label", headers=headers, json={"entry_id": None}).status_code == 404
    assert editor.post(f"/api/admin/turns/{turn}/label", headers=headers,
                       json={"entry_id": "no-such-entry"}).status_code == 404
    assert editor.post(f"/api/admin/turns/{turn}/label", headers=headers,
                       json={"entry_id": "payment", "review": "maybe"}).status_code == 422


def test_the_page_shows_groups_forms_for_editors_only_and_its_form_promotes(server_url: str) -> None:
    for question in STUDENTS:
        ask(server_url, question)
    viewer, _ = signed_in(server_url, "vic")
    page = viewer.get("/admin/unanswered")
    assert page.status_code == 200 and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "student" in page.text and "/promote" not in page.text  # a viewer sees no form

    editor, csrf = signed_in(server_url, "eddie")
    page = editor.get("/admin/unanswered").text
    action = re.search(r'action="(/admin/unanswered/[^"]+/promote)"', page).group(1)
    questions = re.findall(r'name="questions" value="([^"]+)"', page.split(action)[1].split("</form>")[0])
    assert any("student" in q for q in questions)
    posted = editor.post(action, data={"csrf_token": csrf, "action": "new", "new_id": "students",
                                       "answer": "Students get 10% off with a valid ID.", "questions": questions})
    assert posted.status_code == 303, posted.text
    shown = editor.get(posted.headers["location"])
    assert "Entry students created" in shown.text
    assert ask(server_url, "Do students get a discount?")["sources"][0]["id"] == "students"
    forged = editor.post(action, data={"csrf_token": "forged", "action": "new", "new_id": "x", "answer": "y",
                                       "questions": questions})
    assert forged.status_code == 403
