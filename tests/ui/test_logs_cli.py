"""`chatbot logs`, `chatbot index calibrate` and `chatbot eval`'s report, as a user runs them:
a real process, a real SQLite file, the shipped embedder (only where a command needs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.conversations.store import ConversationStore
from chatbot.conversations.database import create_db_engine, upgrade_database
from chatbot.messages import Citation, Reply
from knowledge_base.entries import Entry
from knowledge_base.repository import KnowledgeBaseRepository
from test_cli import FAQ, run

TESTSET = [
    {"query": "when does my parcel come?", "expected_id": "ship-time"},
    {"query": "I lost my password", "expected_id": "password"},
    {"query": "what is the refund policy", "expected_id": "returns"},
    {"query": "Who won the football world cup in 1998?", "expected_id": None},
]


def log_turns(home: Path) -> None:
    """Two logged turns, as the engine logs them: turn 1 answered from "returns", turn 2 abstained."""
    engine = create_db_engine(f"sqlite:///{home / 'chatbot.db'}")
    try:
        store = ConversationStore(engine)
        cid = store.start_conversation("web")
        store.log_turn(cid, "I want to send something back", Reply(
            cid, "You can return items within 30 days.", False, "en",
            [Citation(1, "returns", "Can I return an item?", 0.71)], 0.71, "extractive", 1,
            query="I want to send something back"))
        store.log_turn(cid, "What is the capital of Peru?", Reply(
            cid, "I'm not sure; our support team can help.", True, "en", [], 0.12, "abstain", 1,
            query="What is the capital of Peru?"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three KB entries (no index: `logs` needs no model) and the two logged turns."""
    home = tmp_path_factory.mktemp("logs-home")
    url = f"sqlite:///{home / 'chatbot.db'}"
    upgrade_database(url)
    engine = create_db_engine(url)
    KnowledgeBaseRepository(engine).upsert([Entry(i, f"Question {i}?", "An answer.") for i in
                                            ("ship-time", "returns", "password")])
    engine.dispose()
    log_turns(home)
    return home


def test_list_then_label_turns(home: Path) -> None:
    listing = run("logs", "list", home=home).stdout.splitlines()
    assert listing[0].split() == ["id", "time", "(UTC)", "decision", "top", "entry", "label", "question"]
    peru, returns = listing[1], listing[2]  # newest first
    assert peru.split()[0] == "2" and " abstain " in peru and peru.endswith("What is the capital of Peru?")
    assert returns.split()[0] == "1" and "returns (0.71)" in returns and " answer " in returns

    labelled = run("logs", "label", "1", "--entry", "returns", "--approve", home=home).stdout
    assert labelled.strip() == "turn 1 labelled: entry returns, approved"
    corrected = run("logs", "label", "2", "--out-of-scope", "--correct", "Please ask a travel site.", home=home)
    assert corrected.stdout.strip() == "turn 2 labelled: out of scope, corrected: Please ask a travel site."
    listing = run("logs", "list", "--limit", "1", home=home).stdout.splitlines()
    assert len(listing) == 2 and "out of scope, corrected" in listing[1]


@pytest.mark.parametrize("args, code, message", [
    (["999", "--out-of-scope"], 1, "no logged turn has id 999"),
    (["1", "--entry", "no-such-entry"], 1, "no knowledge-base entry has id 'no-such-entry'"),
    (["1"], 2, "give exactly one of --entry ID and --out-of-scope"),
    (["1", "--entry", "returns", "--out-of-scope"], 2, "give exactly one of --entry ID and --out-of-scope"),
    (["1", "--entry", "returns", "--approve", "--correct", "x"], 2, "at most one of --approve and --correct"),
    (["1", "--entry", "returns", "--correct", " "], 1, "a corrected answer needs its text"),
])
def test_labelling_errors_are_clear(home: Path, args: list[str], code: int, message: str) -> None:
    result = run("logs", "label", *args, home=home, check=False)
    assert result.returncode == code and message in result.stderr


@pytest.mark.slow
def test_calibrate_reports_the_rule_and_eval_the_rates(tmp_path: Path) -> None:
    home = tmp_path / "home"
    faq = tmp_path / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    run("kb", "import", str(faq), home=home)
    log_turns(home)
    run("logs", "label", "2", "--out-of-scope", home=home)
    calibrated = run("index", "calibrate", home=home).stdout
    # 9 phrasings and one label: too few pairs for a 5 % target, so the quantile rule decides.
    assert "(quantile rule; on 10 calibration pairs, 1 of them labelled turns: answers" in calibrated
    # Every other target too; with 10 pairs none can be measured, so the quantile rule holds for all.
    others = calibrated.split("on the same pairs:\n")[1].splitlines()[1:]
    assert [line.split()[0] for line in others] == ["2%", "5%", "10%", "15%", "20%", "30%"]
    assert {line.split()[2] for line in others} == {"quantile"}

    testset = tmp_path / "testset.jsonl"
    testset.write_text("".join(json.dumps(case) + "\n" for case in TESTSET))
    unwritable = run("eval", str(testset), "--report", str(tmp_path / "no" / "r.html"), home=home, check=False)
    assert unwritable.returncode == 1 and "cannot write the report: no folder" in unwritable.stderr
    report = tmp_path / "report.html"
    text = run("eval", str(testset), "--report", str(report), home=home).stdout
    assert "4 questions: 3 in scope, 1 out of scope; answer threshold" in text and "(quantile)" in text
    assert "worst entries by F1" in text and f"report written to {report}" in text
    assert "<svg" in report.read_text(encoding="utf-8")

    metrics = json.loads(run("eval", str(testset), "--json", home=home).stdout)
    assert metrics["threshold_rule"] == "quantile" and metrics["wrong_answer_rate"] == 0.0
    assert f"answered {metrics['answer_rate']:.1%} of all questions; wrong answers 0.0% of the answered" in text
    assert {e["id"] for e in metrics["per_entry"]} == {"ship-time", "password", "returns"}
    assert metrics["confused_pairs"] == []
    # The decision at other thresholds; its "in service" row is the one just measured.
    [in_service] = [row for row in metrics["threshold_tradeoff"] if row["in_service"]]
    assert in_service["threshold"] == pytest.approx(metrics["answer_threshold"], abs=1e-4)
    assert in_service["answer_rate"] == pytest.approx(metrics["answer_rate"], abs=1e-4)
    assert "at other thresholds" in text and "At other thresholds" in report.read_text(encoding="utf-8")
