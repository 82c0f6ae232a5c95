"""`chatbot conversations waiting / reply / take / release` as staff run them: a real process on
a real SQLite file, whose conversations are logged through the store as the engine logs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from chatbot.messages import Reply
from chatbot.services import Services

CHATBOT = str(Path(sys.executable).parent / "chatbot")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", "USER": "sam", "LOGNAME": "sam"}
    return subprocess.run([CHATBOT, "conversations", *args], capture_output=True, text=True, env=env, timeout=300)


def handed_off(services: Services, question: str) -> str:
    cid = services.conversations.start_conversation("web")
    services.conversations.log_turn(cid, question, Reply(cid, "Connecting you…", True, "en", [], 0.0, "handoff", 1,
                                                         action="handoff"))
    return cid


def test_staff_see_the_queue_reply_and_release_from_the_command_line(
        make_services: Callable[..., Services], chatbot_home: Path) -> None:
    services = make_services()
    assert run("waiting", home=chatbot_home).stdout.strip() == "no conversation is waiting for a human"
    first = handed_off(services, "I want to talk to a human about order 12")
    second = handed_off(services, "agent please")
    services.conversations.feed.leave_contact(second, "ana@example.com")

    listed = run("waiting", "--json", home=chatbot_home)
    assert listed.returncode == 0, listed.stderr
    queue = json.loads(listed.stdout)
    assert [(q["id"], q["last_message"], q["contact_email"]) for q in queue] == [
        (first, "I want to talk to a human about order 12", None), (second, "agent please", "ana@example.com")]
    assert all(q["waited_s"] >= 0 and q["language"] == "en" for q in queue)
    table = run("waiting", home=chatbot_home).stdout
    assert first in table and "ana@example.com" in table and "agent please" in table

    sent = run("reply", first, "Hi, Alice here. What is your order number?", "--as", "Alice", home=chatbot_home)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip().endswith(f"conversation {first}: human, held by Alice")
    last = services.conversations.get_transcript(first).messages[-1]
    assert (last.author, last.role, last.content) == ("staff:Alice", "assistant",
                                                      "Hi, Alice here. What is your order number?")
    assert [q["id"] for q in json.loads(run("waiting", "--json", home=chatbot_home).stdout)] == [second]

    taken = run("take", second, home=chatbot_home)  # no --as: the user's name
    assert taken.stdout.strip() == f"conversation {second}: human, held by sam"
    released = run("release", first, home=chatbot_home)
    assert released.returncode == 0 and released.stdout.strip() == f"conversation {first}: bot"
    assert services.conversations.handoff.state(first).state == "bot"


def test_unknown_ids_and_replies_that_cannot_be_sent_exit_2(
        make_services: Callable[..., Services], chatbot_home: Path) -> None:
    services = make_services()
    cid = handed_off(services, "human please")
    for args, message in [(("reply", "0" * 32, "Hello"), "No conversation has the id"),
                          (("release", "not an id!"), "is not a conversation id"),
                          (("reply", cid, "   "), "The reply is empty"),
                          (("reply", cid, "x" * 5000), "5000 characters")]:
        result = run(*args, home=chatbot_home)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert services.conversations.handoff.state(cid).state == "waiting"
