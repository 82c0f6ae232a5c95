"""`chatbot conversations list / export / delete-visitor-data / deletions` as an operator runs
them: a real process on a real SQLite file, conversations logged through the store."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from test_conversations_cli import run

from chatbot.messages import Citation, Reply
from chatbot.services import Services


def logged(services: Services, question: str, action: str = "answer") -> str:
    cid = services.conversations.start_conversation("web")
    services.conversations.log_turn(cid, question, Reply(cid, "It ships in 3 days.", action == "handoff", "en",
                                                         [Citation(1, "shipping-time", "Q", 0.9)], 0.9, "extractive",
                                                         1, action=action), channel="cli")
    return cid


def test_operators_list_export_and_delete_from_the_command_line(
        make_services: Callable[..., Services], chatbot_home: Path, tmp_path: Path) -> None:
    services = make_services()
    kept = logged(services, "Where is my parcel?")
    gone = logged(services, "I want a human, my email is in the form", "handoff")
    services.conversations.feed.leave_contact(gone, "mei@example.com")

    listed = run("list", "--action", "handoff", "--json", home=chatbot_home)
    assert listed.returncode == 0, listed.stderr
    assert [c["id"] for c in json.loads(listed.stdout)["conversations"]] == [gone]
    assert "2 conversation(s)" in run("list", home=chatbot_home).stdout
    bad = run("list", "--from", "yesterday", home=chatbot_home)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr

    out = tmp_path / "turns.csv"
    written = run("export", str(out), home=chatbot_home)
    assert written.returncode == 0 and "2 turn(s)" in written.stdout, written.stderr
    assert {r["conversation_id"] for r in csv.DictReader(out.open(encoding="utf-8"))} == {kept, gone}
    assert run("export", str(tmp_path / "turns.xml"), home=chatbot_home).returncode == 2

    refused = run("delete-visitor-data", "--email", "mei@example.com", "--reason", " ", home=chatbot_home)
    assert refused.returncode == 2 and "why" in refused.stderr
    done = run("delete-visitor-data", "--email", "mei@example.com", "--reason", "Email of 1 Dec", home=chatbot_home)
    assert done.returncode == 0 and "deleted 1 conversation(s)" in done.stdout, done.stderr
    [record] = json.loads(run("deletions", "--json", home=chatbot_home).stdout)
    assert (record["deleted_by"], record["reason"], record["selected_by"]) == ("sam", "Email of 1 Dec", "email")
    assert [c["id"] for c in json.loads(run("list", "--json", home=chatbot_home).stdout)["conversations"]] == [kept]
