"""`chatbot replay` as CI runs it: the summary, the files, exit 1 when the gate fails on an injected
regression and 0 otherwise, exit 2 for a bad option; `chatbot model promote --require-replay`."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest
from faq_services import SHOP_FAQ
from typer.testing import CliRunner

from chatbot.generators.registry import ModelCard, ModelRegistry
from ui.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chatbot" / "evaluation"))
from replay_fixtures import changed_kb, log_shop_conversations  # noqa: E402


@pytest.fixture
def logged_shop(make_services, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHATBOT_GENERATOR", "extractive")
    services = make_services(SHOP_FAQ)
    log_shop_conversations(services)
    return services


def replay(*args: str):
    return CliRunner().invoke(app, ["replay", "--no-progress", *args])


def test_the_gate_exits_1_on_a_regression_and_0_without(logged_shop, tmp_path: Path) -> None:
    kb = changed_kb(tmp_path)
    failed = replay("--kb", str(kb), "--fail-if", "resolved_rate<0.9", "--out", str(tmp_path / "bad"))
    assert failed.exit_code == 1, failed.output
    assert "gate: FAILED" in failed.output and "resolved_rate is 0.8000" in failed.output
    assert "3 of 7 turns changed against the logged reply" in failed.output
    assert (tmp_path / "bad" / "report.html").is_file()
    report = json.loads((tmp_path / "bad" / "report.json").read_text(encoding="utf-8"))
    assert report["gate"]["passed"] is False and report["changed"] == 3

    passed = replay("--fail-if", "resolved_rate<0.9", "--max-regression", "0.01", "--json", "--out", str(tmp_path / "ok"))
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.output)["gate"]["passed"] is True

    regressed = replay("--kb", str(kb), "--baseline", str(tmp_path / "ok" / "report.json"),
                       "--max-regression", "0.01", "--out", str(tmp_path / "ab"))
    assert regressed.exit_code == 1 and "(baseline) to 0.8000" in regressed.output, regressed.output


def test_bad_options_exit_2_with_a_message(logged_shop, tmp_path: Path) -> None:
    for args, message in [(["--set", "answer_threshold"], "key=value"),
                          (["--fail-if", "resolved<0.9"], "--fail-if"),
                          (["--since", "yesterday"], "write a date"),
                          (["--action", "dance"], "unknown action"),
                          (["--baseline", str(tmp_path / "nothing.json")], "--baseline"),
                          ([str(tmp_path / "missing.jsonl")], "cannot read the test set")]:
        result = replay(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_promote_requires_a_passing_replay_of_that_version(chatbot_home: Path, tmp_path: Path) -> None:
    models = chatbot_home / "models"
    models.unlink()  # the session's shared models: a promotion here must not reach other tests
    models.mkdir()
    registry = ModelRegistry(models)
    version = f"smollm2-test-{secrets.token_hex(4)}"
    work = registry.work_dir(version)
    (work / "adapter").mkdir()
    registry.commit(work, ModelCard(id=version, base="smollm2", kind="lora", created="2026-01-01T00:00:00+00:00",
                                    data_hash="0" * 64))

    def promote(report: dict) -> object:
        path = tmp_path / "report.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        return CliRunner().invoke(app, ["model", "promote", version, "--require-replay", str(path)])

    passing = {"metrics": {}, "candidate": {"model_version": version},
               "gate": {"passed": True, "failures": [], "rules": ["resolved_rate<0.9"], "max_regression": None}}
    other = promote({**passing, "candidate": {"model_version": "another"}})
    assert other.exit_code == 1 and "not " + version in other.output
    failing = promote({**passing, "gate": {**passing["gate"], "passed": False, "failures": ["hit@1 fell"]}})
    assert failing.exit_code == 1 and "gate failed: hit@1 fell" in failing.output
    ungated = promote({**passing, "gate": {"passed": True, "failures": [], "rules": [], "max_regression": None}})
    assert ungated.exit_code == 1 and "had no gate" in ungated.output
    assert registry.promoted() != version
    promoted = promote(passing)
    assert promoted.exit_code == 0, promoted.output
    assert registry.promoted() == version
