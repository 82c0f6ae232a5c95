"""`chatbot user add / list / remove` as an operator runs them: a real process on a real SQLite
file, the password from standard input, the accounts then checked through the services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from chatbot.services import Services

CHATBOT = str(Path(sys.executable).parent / "chatbot")
PASSWORD = "a long passphrase 1"


def run(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([CHATBOT, "user", *args], input=stdin, capture_output=True, text=True, env=env,
                          timeout=300)


def test_operators_add_list_and_remove_staff_accounts(make_services: Callable[..., Services],
                                                      chatbot_home: Path) -> None:
    assert "no staff account yet" in run("list", home=chatbot_home).stdout
    added = run("add", "alice", "--role", "admin", "--password-stdin", home=chatbot_home, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "alice added (admin)" in added.stdout and PASSWORD not in added.stdout + added.stderr
    assert run("add", "bob", "--role", "editor", "--password-stdin", home=chatbot_home,
               stdin="another passphrase\n").returncode == 0

    listed = run("list", "--json", home=chatbot_home)
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)] == [("alice", "admin"), ("bob", "editor")]
    table = run("list", home=chatbot_home).stdout
    assert "alice" in table and "editor" in table

    services = make_services()  # the same database: the password read from stdin is the account's
    assert services.sign_in("alice", PASSWORD, "127.0.0.1").user.role == "admin"

    removed = run("remove", "bob", home=chatbot_home)
    assert removed.returncode == 0 and "bob removed" in removed.stdout
    assert [u.name for u in services.staff_users()] == ["alice"]


def test_refusals_exit_2_with_a_reason(chatbot_home: Path) -> None:
    short = run("add", "alice", "--role", "admin", "--password-stdin", home=chatbot_home, stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    role = run("add", "alice", "--role", "owner", "--password-stdin", home=chatbot_home, stdin=PASSWORD + "\n")
    assert role.returncode == 2 and "unknown role" in role.stderr
    assert run("add", "alice", "--role", "admin", "--password-stdin", home=chatbot_home,
               stdin=PASSWORD + "\n").returncode == 0
    taken = run("add", "alice", "--role", "viewer", "--password-stdin", home=chatbot_home, stdin=PASSWORD + "\n")
    assert taken.returncode == 2 and "exists already" in taken.stderr
    last = run("remove", "alice", home=chatbot_home)
    assert last.returncode == 2 and "last admin" in last.stderr
    unknown = run("remove", "nobody", home=chatbot_home)
    assert unknown.returncode == 2 and "no staff account" in unknown.stderr


def test_the_password_prompt_asks_twice(chatbot_home: Path) -> None:
    # Without --password-stdin the prompt reads the password and its confirmation (no echo on a terminal).
    added = run("add", "carol", "--role", "viewer", home=chatbot_home, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.returncode == 0, added.stderr
    assert "carol added (viewer)" in added.stdout and PASSWORD not in added.stdout
