"""`chatbot site add / list / remove` as an operator runs them: a real process on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHATBOT = str(Path(sys.executable).parent / "chatbot")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([CHATBOT, "site", *args], capture_output=True, text=True, env=env, timeout=300)


def test_add_prints_the_key_and_the_secret_once_list_never_and_remove_ends_it(tmp_path: Path) -> None:
    added = run("add", "--origin", "https://Shop.example/", "--origin", "http://localhost:8080", "--name", "Shop",
                home=tmp_path)
    assert added.returncode == 0, added.stderr
    lines = dict(line.split(":", 1) for line in added.stdout.splitlines() if line.startswith(("site key:", "secret:")))
    key, secret = lines["site key"].strip(), lines["secret"].strip()
    assert key.startswith("site_") and len(secret) == 64
    assert "https://shop.example http://localhost:8080" in added.stdout

    listed = run("list", home=tmp_path)
    assert listed.returncode == 0 and key in listed.stdout and "Shop" in listed.stdout and secret not in listed.stdout
    [site] = json.loads(run("list", "--json", home=tmp_path).stdout)
    assert site["key"] == key and site["origins"] == ["https://shop.example", "http://localhost:8080"]
    assert "secret" not in site

    assert run("remove", key, home=tmp_path).returncode == 0
    again = run("remove", key, home=tmp_path)
    assert again.returncode == 2 and "no site has key" in again.stderr
    assert "no site yet" in run("list", home=tmp_path).stdout


def test_an_origin_that_is_not_http_is_refused(tmp_path: Path) -> None:
    refused = run("add", "--origin", "javascript:alert(1)", home=tmp_path)
    assert refused.returncode == 2 and "not an http(s) origin" in refused.stderr and "Traceback" not in refused.stderr
    assert run("add", home=tmp_path).returncode == 2  # --origin is required
