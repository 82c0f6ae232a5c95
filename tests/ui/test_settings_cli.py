"""`chatbot settings show / set / reset` as an operator runs them: a real process on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHATBOT = str(Path(sys.executable).parent / "chatbot")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", "USER": "olga"}
    return subprocess.run([CHATBOT, "settings", *args], capture_output=True, text=True, env=env, timeout=300)


def test_set_show_and_reset_a_setting(tmp_path: Path) -> None:
    changed = run("set", "top_k", "3", home=tmp_path)
    assert changed.returncode == 0 and "changed: top_k" in changed.stdout, changed.stderr
    questions = run("set", "suggested_questions_en", "Where is my order?", "Can I return a gift?", home=tmp_path)
    assert questions.returncode == 0, questions.stderr
    shown = {row["key"]: row for row in json.loads(run("show", "--json", home=tmp_path).stdout)}
    assert shown["top_k"]["value"] == 3 and shown["top_k"]["default"] == 5 and shown["top_k"]["updated_by"] == "cli:olga"
    assert shown["suggested_questions_en"]["value"] == ["Where is my order?", "Can I return a gift?"]
    assert "cli:olga" in run("show", home=tmp_path).stdout
    assert "changed: top_k" in run("reset", "top_k", home=tmp_path).stdout
    assert json.loads(run("show", "--json", home=tmp_path).stdout)[2]["updated_by"] is None


def test_wrong_values_and_unknown_settings_exit_2_with_the_reason(tmp_path: Path) -> None:
    wrong = run("set", "top_k", "99", home=tmp_path)
    assert wrong.returncode == 2 and "top_k must be from 1 to 20, not 99" in wrong.stderr
    unknown = run("reset", "home", home=tmp_path)
    assert unknown.returncode == 2 and "not a setting staff may change" in unknown.stderr
