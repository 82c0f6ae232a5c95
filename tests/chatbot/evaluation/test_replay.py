"""`chatbot replay` end to end on a real engine (real embedder, real SQLite and PostgreSQL): a
changed FAQ changes exactly the turns it should, with the right metric movements; the production
log and index are left as they were; test sets replay with their labels; the report is JSON-clean."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from faq_services import SHOP_FAQ
from replay_fixtures import NEW_PAYMENT, changed_kb, log_shop_conversations
from sqlalchemy import MetaData, select

from chatbot.evaluation.replay import run_replay
from chatbot.evaluation.replay_candidate import Candidate, ReplayError, candidate_settings, parse_overrides
from chatbot.evaluation.replay_gate import check_gate
from chatbot.evaluation.replay_source import ReplaySlice, logged_turns, turns_of_test_set
from chatbot.replay_services import ReplayRequest
from chatbot.services import Services
from scripted_generator import ScriptedGenerator


@pytest.fixture
def shop(make_services) -> tuple[Services, dict[str, int]]:
    services = make_services(SHOP_FAQ)
    return services, log_shop_conversations(services)


def by_question(report: dict) -> dict[str, dict]:
    return {t["question"]: t for t in report["turns"]}


def test_a_changed_answer_and_changed_phrasings_change_exactly_their_turns(shop, tmp_path: Path) -> None:
    services, _ = shop
    report = run_replay(services, logged_turns(services.database), Candidate(kb_file=changed_kb(tmp_path)))
    turns = by_question(report)
    changed = {q: t["changes"] for q, t in turns.items() if t["changes"]}
    assert changed == {
        "Which payment methods do you accept?": ["answer"],  # same entry, same action, new words
        "Do you take credit cards?": ["answer"],
        "Can I send something back?": ["action", "entry", "answer"],  # its phrasings are gone
    }
    assert report["changed"] == 3 and report["n"] == 7
    assert turns["Do you take credit cards?"]["candidate"]["answer"] == NEW_PAYMENT
    assert turns["Can I send something back?"]["candidate"]["action"] != "answer"
    assert all(t["similarity"] == 1.0 for q, t in turns.items() if q not in changed and t["candidate"]["answer"])
    assert all(t["similarity"] < 0.95 for q, t in turns.items() if q in changed)
    logged, new = report["metrics"]["logged"], report["metrics"]["candidate"]
    assert logged["hit@1"] == logged["resolved_rate"] == logged["top_entry_agreement"] == 1.0
    # 5 labelled in-scope turns (and one out of scope): the returns turn is the one lost.
    assert new["labelled"] == 6 and new["hit@1"] == new["resolved_rate"] == 0.8
    assert new["top_entry_agreement"] == 0.8  # 4 of the 5 logged answers keep their entry
    assert new["action_agreement"] == pytest.approx(6 / 7, abs=1e-4)
    assert new["wrong_answer_rate"] == 0.0  # abstaining is not answering wrongly
    returns = {row["id"]: row for row in new["per_entry"]}["returns"]
    assert returns["recall"] == 0.0 and returns["support"] == 1
    assert set(report["by_language"]) == {"en"}
    json.dumps(report)  # the report is plain JSON


def test_an_unchanged_candidate_agrees_with_the_log_and_passes_a_gate(shop) -> None:
    services, _ = shop
    report = run_replay(services, logged_turns(services.database), Candidate())
    assert report["changed"] == 0
    assert report["metrics"]["candidate"]["action_agreement"] == 1.0
    gate = check_gate(report, ["resolved_rate<0.9"], max_regression=0.01)
    assert gate == {"passed": True, "failures": [], "rules": ["resolved_rate<0.9"], "max_regression": 0.01}


def test_the_gate_fails_an_injected_regression_against_a_baseline(shop, tmp_path: Path) -> None:
    services, _ = shop
    report = run_replay(services, logged_turns(services.database), Candidate(kb_file=changed_kb(tmp_path)),
                        baseline=Candidate())
    assert report["compared_with"] == "baseline" and report["metrics"]["baseline"]["resolved_rate"] == 1.0
    gate = check_gate(report, ["resolved_rate<0.9", "wrong_answer_rate>0.1"], max_regression=0.01)
    assert not gate["passed"]
    assert any(f.startswith("resolved_rate is 0.8000") for f in gate["failures"])
    assert any(f.startswith("hit@1 went from 1.0000 (baseline) to 0.8000") for f in gate["failures"])
    assert not any(f.startswith("wrong_answer_rate") for f in gate["failures"])


def test_the_production_log_and_index_are_unchanged_on_sqlite(shop, tmp_path: Path) -> None:
    services, _ = shop
    database = services.settings.home / "chatbot.db"
    index = services.settings.index_dir

    def fingerprint() -> tuple[str, dict, dict]:
        services.database.dispose()  # close the connections: WAL frames go into the file
        files = {str(p.relative_to(index)): p.read_bytes() for p in sorted(index.rglob("*")) if p.is_file()}
        return hashlib.sha256(database.read_bytes()).hexdigest(), table_rows(services), files

    before = fingerprint()
    services.replay(ReplayRequest(candidate=Candidate(kb_file=changed_kb(tmp_path)), baseline="current",
                                  out_dir=tmp_path / "out"))
    assert fingerprint() == before


@pytest.mark.integration
def test_the_production_log_is_unchanged_on_postgresql(make_services, postgres_db_url: str, tmp_path: Path) -> None:
    services = make_services(SHOP_FAQ, database_url=postgres_db_url)
    log_shop_conversations(services)
    before = table_rows(services)
    assert len(before["turn_traces"]) == 7 and len(before["turn_labels"]) == 6
    report = services.replay(ReplayRequest(candidate=Candidate(kb_file=changed_kb(tmp_path)),
                                           out_dir=tmp_path / "out")).report
    assert report["changed"] == 3
    assert table_rows(services) == before


def table_rows(services: Services) -> dict[str, list]:
    """Every row of every table of the database, in a stable order."""
    metadata = MetaData()
    metadata.reflect(services.database)
    with services.database.connect() as connection:
        return {name: sorted(map(tuple, connection.execute(select(table)).all()), key=repr)
                for name, table in metadata.tables.items()}


def test_slices_select_turns_and_carry_the_logged_history(shop) -> None:
    services, ids = shop
    everything = logged_turns(services.database)
    assert len(everything) == 7
    second = next(t for t in everything if t.question == "Do you take credit cards?")
    assert [m.content for m in second.history][0] == "What are your opening hours?"
    assert second.labelled and second.expected_id == "payment" and second.label_source == "staff"
    abstained = logged_turns(services.database, ReplaySlice(action="abstain"))
    assert [t.question for t in abstained] == ["What is the capital of Mongolia?"]
    assert abstained[0].labelled and abstained[0].expected_id is None
    assert len(logged_turns(services.database, ReplaySlice(labelled_only=True))) == 6
    conversation = second.conversation_id
    assert len(logged_turns(services.database, ReplaySlice(conversation_ids=(conversation,)))) == 2
    assert logged_turns(services.database, ReplaySlice(limit=1))[0].key == f"turn:{max(ids.values())}"
    services.conversations.feedback.give(ids["Thanks!"], "down")
    assert [t.question for t in logged_turns(services.database, ReplaySlice(feedback="down"))] == ["Thanks!"]
    with pytest.raises(ValueError, match="unknown action"):
        logged_turns(services.database, ReplaySlice(action="dance"))


def test_a_multi_turn_test_set_replays_with_its_own_history(make_services, tmp_path: Path) -> None:
    services = make_services(SHOP_FAQ)
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"query": "What is the capital of Mongolia?", "expected_id": null}\n'
                     '{"turns": [{"query": "Do you take credit cards?", "expected_id": "payment"},'
                     ' {"query": "How long does shipping take?", "expected_id": "shipping-time"}]}\n', encoding="utf-8")
    turns = turns_of_test_set(cases)
    assert [t.key for t in turns] == ["case:1.1", "case:2.1", "case:2.2"]
    generator = ScriptedGenerator("Scripted words [1].")
    report = run_replay(services, turns, Candidate(), generator=generator)
    assert "logged" not in report["metrics"] and report["changed"] == 0
    new = report["metrics"]["candidate"]
    assert new["hit@1"] == new["resolved_rate"] == new["abstain_recall"] == 1.0
    assert len(generator.requests) == 2  # the out-of-scope question was not generated for
    # The conversation's second turn saw its first, as the candidate answered it.
    first, second = ([m.content for m in r.history] for r in generator.requests)
    assert first == []
    assert second == ["Do you take credit cards?", by_question(report)["Do you take credit cards?"]["candidate"]["answer"]]


def test_bad_candidates_and_selections_say_what_to_do(shop, tmp_path: Path) -> None:
    services, _ = shop
    with pytest.raises(ReplayError, match="no such setting"):
        candidate_settings(services.settings, parse_overrides(["no_such=1"]))
    with pytest.raises(ReplayError, match="key=value"):
        parse_overrides(["answer_threshold"])
    with pytest.raises(ReplayError, match="cannot change in a replay"):
        candidate_settings(services.settings, parse_overrides(["home=/tmp"]))
    assert candidate_settings(services.settings, parse_overrides(["answer_threshold=0.7"])).answer_threshold == 0.7
    with pytest.raises(ReplayError, match="no such file"):
        services.replay(ReplayRequest(candidate=Candidate(kb_file=tmp_path / "missing.csv")))
    with pytest.raises(ReplayError, match="nothing to replay"):
        services.replay(ReplayRequest(ReplaySlice(language="fr")))
    with pytest.raises(ReplayError, match="--fail-if"):
        services.replay(ReplayRequest(fail_if=("resolved<0.9",)))
    with pytest.raises(ReplayError, match="--kb-version 99"):
        services.replay(ReplayRequest(candidate=Candidate(kb_version=99)))


def test_a_kb_version_the_console_keeps_is_a_candidate(shop, tmp_path: Path) -> None:
    """The changed FAQ goes into service as a new KB version; replaying the version the log was
    answered with changes nothing, the current one changes the three turns."""
    services, _ = shop
    logged_version = services.knowledge_base.current_version()
    services.import_files([changed_kb(tmp_path)])
    assert services.knowledge_base.current_version() > logged_version
    turns = logged_turns(services.database)
    assert run_replay(services, turns, Candidate(kb_version=logged_version))["changed"] == 0
    assert run_replay(services, turns, Candidate())["changed"] == 3
