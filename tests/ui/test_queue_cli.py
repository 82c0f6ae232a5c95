"""`chatbot logs unanswered|promote` as a user runs them: a real process over a real SQLite file,
with turns the engine logged (the shipped embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faq_services import SHOP_FAQ, services_with_faq
from test_cli import run

DOGS = ["Are dogs allowed in your store?", "Can I bring my dog inside the store?", "Is my dog welcome in the shop?",
        "Do you allow pets in the store?", "Can dogs come into your store?"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("queue-cli") / "home"
    home.mkdir()
    services = services_with_faq(home, SHOP_FAQ)
    for question in DOGS + ["What is the capital of Peru?"]:
        services.engine.respond(None, question)
    services.database.dispose()
    return home


def test_unanswered_json_then_promote(home: Path) -> None:
    groups = json.loads(run("logs", "unanswered", "--json", home=home).stdout)
    assert [list(g)[:4] for g in groups] == [["group", "count", "examples", "languages"]] * 2
    top = groups[0]
    assert top["count"] == 5 and sorted(top["examples"]) == sorted(DOGS) and top["languages"] == ["en"]
    assert isinstance(top["group"], str) and all(isinstance(e, str) for e in top["examples"])
    table = run("logs", "unanswered", home=home).stdout.splitlines()
    assert table[0].split()[:2] == ["group", "count"] and top["group"] in table[1]
    assert json.loads(run("logs", "unanswered", "--json", "--since", "2999-01-01", home=home).stdout) == []

    bad = run("logs", "promote", top["group"], "--entry", "returns", "--new-id", "x", home=home, check=False)
    assert bad.returncode == 2 and "--new-id ID with --answer" in bad.stderr
    unknown = run("logs", "promote", "1-000000x", "--entry", "returns", home=home, check=False)
    assert unknown.returncode == 2 and "no unanswered group" in unknown.stderr
    assert run("logs", "unanswered", "--since", "soon", home=home, check=False).returncode == 2

    done = run("logs", "promote", top["group"], "--new-id", "dogs", "--answer", "Dogs on a leash are welcome.",
               home=home)
    assert "entry dogs created: 5 new phrasings, 5 turns labelled" in done.stdout
    answer = json.loads(run("ask", DOGS[2], "--json", home=home).stdout)
    assert answer["action"] == "answer" and answer["sources"][0]["id"] == "dogs"
    left = json.loads(run("logs", "unanswered", "--json", home=home).stdout)
    assert [g["examples"] for g in left] == [["What is the capital of Peru?"]]
