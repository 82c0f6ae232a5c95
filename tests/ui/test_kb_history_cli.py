"""`chatbot kb history|rollback|versions` as an operator runs them: a real process, a real SQLite
file, the real embedder; a rollback is what the next `chatbot ask` answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHATBOT = str(Path(sys.executable).parent / "chatbot")
FAQ_V1 = ("id,question,answer\n"
          "returns,Can I return an item?,You can return items within 30 days.\n"
          "payment,Which payment methods do you accept?,We accept Visa and PayPal.\n")
FAQ_V2 = ("id,question,answer\n"
          "returns,Can I return an item?,You can return items within 60 days.\n"
          "gift-wrap,Do you offer gift wrapping?,Yes for $3.\n")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([CHATBOT, *args], capture_output=True, text=True, env=env, timeout=300)


def test_history_rollback_and_versions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for number, faq in enumerate((FAQ_V1, FAQ_V2), start=1):
        (tmp_path / f"faq{number}.csv").write_text(faq, encoding="utf-8")
    imported = run("kb", "import", str(tmp_path / "faq1.csv"), str(tmp_path / "faq2.csv"), home=home)
    assert imported.returncode == 0, imported.stderr

    history = json.loads(run("kb", "history", "returns", "--json", home=home).stdout)
    assert [(v["kb_version"], v["change"], v["author"]) for v in history["versions"]] == [
        (2, "edited", "cli"), (1, "created", "cli")]
    assert {"op": "insert", "text": "60"} in history["versions"][0]["changes"][0]["spans"]
    text = run("kb", "history", "returns", home=home).stdout
    assert "version 2" in text and "edited  by cli" in text and "[-30-]{+60+}" in text

    rolled = run("kb", "rollback", "returns", "--to", "1", "--reason", "60 days was a typo", "--as", "alice",
                 home=home)
    assert rolled.returncode == 0, rolled.stderr
    assert "rolled back returns to KB version 1: new KB version 3" in rolled.stdout
    asked = json.loads(run("ask", "Can I return an item?", "--json", home=home).stdout)
    assert asked["answer"] == "You can return items within 30 days."

    whole = run("kb", "rollback", "--kb-version", "2", "--as", "bob", home=home)
    assert "new KB version 4" in whole.stdout and "restored: returns" in whole.stdout
    versions = json.loads(run("kb", "versions", "--json", home=home).stdout)
    assert [(v["version"], v["author"], v["reason"]) for v in versions][:2] == [
        (4, "bob", ""), (3, "alice", "60 days was a typo")]

    for args, message in (
            (("kb", "rollback", "returns"), "give either ID --to VERSION"),
            (("kb", "rollback", "returns", "--to", "1", "--kb-version", "1"), "give either ID --to VERSION"),
            (("kb", "rollback", "--kb-version", "99"), "there is no KB version 99"),
            (("kb", "history", "nope"), "no knowledge-base entry has id 'nope'")):
        refused = run(*args, home=home)
        assert refused.returncode == 2 and message in refused.stderr, (args, refused.stderr)
