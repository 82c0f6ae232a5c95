"""The `chatbot` command as a user runs it: a real process, a real SQLite file, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHATBOT = str(Path(sys.executable).parent / "chatbot")
FAQ = """id,question,alternates,answer
ship-time,How long does shipping take?,When will my order arrive?|delivery time,Standard shipping takes 3-5 business days.
returns,Can I return an item?,What is your return policy?|I want to send something back,You can return items within 30 days.
password,How do I reset my password?,I forgot my password|can't log in,Use 'Forgot password' on the sign-in page.
broken,,no question here,An answer.
"""


def run(*args: str, home: Path, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run([CHATBOT, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"chatbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    faq = home.parent / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    result = run("kb", "import", str(faq), home=home)
    assert "3 entries imported (3 new, 0 updated, 0 unchanged), 1 rows rejected" in result.stdout
    assert f"rejected {faq}:5: missing question" in result.stderr
    return home


def test_ask_json_prints_exactly_the_contract(home: Path) -> None:
    result = run("ask", "I want to send something back", "--json", home=home)
    reply = json.loads(result.stdout)
    assert list(reply) == ["answer", "abstained", "language", "sources", "conversation_id", "latency_ms", "action",
                           "options", "turn_id"]
    assert isinstance(reply["turn_id"], int)
    assert reply["action"] == "answer" and reply["options"] == []
    assert reply["answer"] == "You can return items within 30 days."
    assert reply["abstained"] is False and reply["language"] == "en"
    assert list(reply["sources"][0]) == ["id", "question", "score"]
    assert reply["sources"][0]["id"] == "returns"
    assert isinstance(reply["sources"][0]["score"], float) and isinstance(reply["latency_ms"], float)

    follow_up = json.loads(run("ask", "What is the capital of Peru?", "--json", "--conversation",
                               reply["conversation_id"], home=home).stdout)
    assert follow_up["conversation_id"] == reply["conversation_id"]
    assert follow_up["abstained"] is True and follow_up["sources"] == []


@pytest.mark.parametrize("bad", ["1", "not an id!"])
def test_ask_with_an_id_the_server_did_not_issue_fails_clearly(home: Path, bad: str) -> None:
    result = run("ask", "How long does shipping take?", "--conversation", bad, home=home, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and "Start a new conversation by leaving the conversation id out" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_json_prints_the_metrics(home: Path, tmp_path: Path) -> None:
    testset = tmp_path / "testset.jsonl"
    testset.write_text("\n".join(json.dumps(c) for c in [
        {"query": "when does my parcel come?", "expected_id": "ship-time"},
        {"query": "I lost my password", "expected_id": "password"},
        {"query": "what is the refund policy", "expected_id": "returns"},
        {"query": "Who won the football world cup in 1998?", "expected_id": None},
    ]) + "\n")
    metrics = json.loads(run("eval", str(testset), "--json", "--k", "2", home=home).stdout)
    assert list(metrics)[:10] == ["n", "hit@1", "hit@k", "mrr", "abstain_precision", "abstain_recall",
                                  "answered_accuracy", "p50_ms", "p95_ms", "k"]
    assert metrics["n"] == 4 and metrics["hit@1"] == 1.0 and metrics["abstain_recall"] == 1.0


def test_a_broken_test_set_names_the_line(home: Path, tmp_path: Path) -> None:
    testset = tmp_path / "broken.jsonl"
    testset.write_text('{"query": "ok", "expected_id": null}\n{"query": 5}\n')
    result = run("eval", str(testset), home=home, check=False)
    assert result.returncode == 1
    assert f"{testset}:2: expected an object with a string 'query'" in result.stderr


def test_export_then_list_and_reimport_round_trip(home: Path, tmp_path: Path) -> None:
    for name in ("kb.csv", "kb.jsonl"):
        out = tmp_path / name
        assert "3 entries written" in run("kb", "export", str(out), home=home).stdout
        again = run("kb", "import", str(out), home=home).stdout
        assert "(0 new, 0 updated, 3 unchanged), 0 rows rejected" in again
    listing = run("kb", "list", home=home).stdout.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["password", "returns", "ship-time"]


def test_a_refused_file_fails_with_a_clear_message(home: Path, tmp_path: Path) -> None:
    fake = tmp_path / "faq.csv"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    result = run("kb", "import", str(fake), home=home, check=False)
    assert result.returncode == 1
    assert "binary data, not a CSV text file" in result.stderr


def test_index_rebuild_and_db_upgrade(home: Path) -> None:
    assert "3 entries, 9 phrasings, model all-MiniLM-L6-v2 (384-d), flat index" in run("index", "rebuild", home=home).stdout
    assert "database at head" in run("db", "upgrade", home=home).stdout


def test_the_index_type_setting_reaches_the_index(home: Path) -> None:
    hnsw = run("index", "rebuild", home=home, env={"CHATBOT_INDEX_TYPE": "hnsw"}).stdout
    assert "hnsw (M=16, efConstruction=40, efSearch=96) index" in hnsw
    refused = run("index", "rebuild", home=home, check=False, env={"CHATBOT_INDEX_TYPE": "annoy"})
    assert refused.returncode != 0
    assert "index_type" in refused.stderr and "'auto', 'flat', 'hnsw' or 'ivf'" in refused.stderr
    # Back to the default setting, a rebuild makes a flat index again.
    assert "flat index" in run("index", "rebuild", home=home).stdout


def test_an_unreachable_database_is_reported(tmp_path: Path) -> None:
    env = {**os.environ, "CHATBOT_HOME": str(tmp_path),
           "CHATBOT_DATABASE_URL": "postgresql+psycopg://bot:secret@127.0.0.1:9/nowhere"}
    result = subprocess.run([CHATBOT, "db", "upgrade"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 3
    assert "127.0.0.1:9" in result.stderr and "secret" not in result.stderr


# Issue 11: this file imported, then every index write failed: every later `kb import`,
# `index rebuild` and `serve` exited 1.
POISON = '[{"id":"poison","question":"Is this poisoned?","answer":"Yes.","tags":["\\ud800"]}]'


def test_nothing_a_kb_file_or_an_older_version_stored_stops_the_product(tmp_path: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from knowledge_base.db_models import EntryRow, KBVersionRow

    home = tmp_path / "home"
    poison, faq = tmp_path / "poison.json", tmp_path / "faq.csv"
    poison.write_text(POISON, encoding="utf-8")
    faq.write_text(FAQ, encoding="utf-8")
    first = run("kb", "import", str(poison), home=home)
    assert "1 entries imported (1 new, 0 updated, 0 unchanged), 0 rows rejected" in first.stdout
    assert "3 entries imported (3 new" in run("kb", "import", str(faq), home=home).stdout
    # A row as an older version stored it, a lone surrogate in a JSON column.
    engine = create_engine(f"sqlite:///{home / 'chatbot.db'}")
    with Session(engine) as session, session.begin():
        session.add(KBVersionRow(version=3, summary="written by an older version"))
        session.add(EntryRow(id="legacy", question="Is this legacy text?", answer="Old.",
                             alternates=["legacy \udfff"], tags=["\ud800"], version=3))
    engine.dispose()
    rebuilt = run("index", "rebuild", home=home)
    assert "KB version 3, 5 entries, 12 phrasings" in rebuilt.stdout
    reply = json.loads(run("ask", "Is this poisoned?", "--json", home=home).stdout)
    assert reply["answer"] == "Yes." and reply["sources"][0]["id"] == "poison"

    unknown = run("kb", "delete", "poison", "nope", home=home, check=False)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "error: no knowledge-base entry has id 'nope' (see `chatbot kb list`); nothing was deleted" in unknown.stderr
    deleted = run("kb", "delete", "poison", "legacy", home=home).stdout
    assert "deleted poison\ndeleted legacy\n" in deleted
    assert "index: KB version 4, 3 entries, 9 phrasings" in deleted  # caught up, as after an import
    assert "poison" not in run("kb", "list", home=home).stdout


def test_hostile_kb_files_are_refused_or_reported_without_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    deep, huge, long_cell = tmp_path / "deep.json", tmp_path / "huge.jsonl", tmp_path / "long.csv"
    deep.write_text("[" * 1000 + "]" * 1000, encoding="utf-8")
    huge.write_text('{"id": "n", "question": "Q?", "answer": "A.", "tags": [%s]}\n' % ("9" * 5000), encoding="utf-8")
    long_cell.write_text(f'id,question,answer\nlong,Long?,"{"a" * 200_000}"\nafter,After?,Kept.\n', encoding="utf-8")
    result = run("kb", "import", str(deep), str(huge), str(long_cell), home=home, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"refused {deep}: not a knowledge-base file: it holds lists or objects nested over 64 levels deep" \
        in result.stderr
    assert f"rejected {huge}:1: not an entry: the line holds a number of 5000 digits (the limit is 100)" in result.stderr
    assert f"rejected {long_cell}:2: answer is 200000 characters; the limit is 20000" in result.stderr
    assert f"{long_cell}: 1 entries imported (1 new, 0 updated, 0 unchanged), 1 rows rejected" in result.stdout


def test_kb_commands_report_an_unreachable_database(tmp_path: Path) -> None:
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    env = {"CHATBOT_DATABASE_URL": "postgresql+psycopg://bot:secret@127.0.0.1:9/nowhere"}
    for args in (["kb", "import", str(faq)], ["kb", "delete", "returns"]):
        result = run(*args, home=tmp_path, check=False, env=env)
        assert result.returncode == 3 and "Traceback" not in result.stderr
        assert "127.0.0.1:9" in result.stderr and "secret" not in result.stderr
