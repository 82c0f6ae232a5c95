"""The replay's gate for CI: thresholds on the candidate's metrics and a largest allowed regression
against the baseline (or, without one, the logged bot); a report that fails exits non-zero.

    >>> gate = check_gate(report, ["resolved_rate<0.9"], max_regression=0.01)
    >>> gate["passed"], gate["failures"]
    (False, ["resolved_rate is 0.850, and the gate fails below 0.9 ... "])

`--fail-if 'NAME<VALUE'` fails when the candidate's metric NAME is below VALUE (also `<=`, `>`,
`>=`); a metric the replay could not measure (no labelled turns) fails too, since the check was
asked for. `--max-regression D` fails when any metric where higher is better fell by more than D
(or one where lower is better rose by more), latency aside (it measures the machine as much).
"""

from __future__ import annotations

import json
import operator
import re
from pathlib import Path

from chatbot.evaluation.replay_metrics import DIRECTION

RULE = re.compile(r"^\s*([A-Za-z_@0-9]+)\s*(<=|>=|<|>)\s*(-?[0-9]*\.?[0-9]+)\s*$")
OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}
NOT_WATCHED = ("p50_ms", "p95_ms")


class GateError(ValueError):
    """A rule that cannot be read, or a report that cannot be checked; the message says why."""


def parse_rule(rule: str) -> tuple[str, str, float]:
    """`"resolved_rate<0.9"` → ("resolved_rate", "<", 0.9); `GateError` naming the metrics otherwise."""
    found = RULE.match(rule)
    if not found or found.group(1) not in DIRECTION:
        raise GateError(f"--fail-if {rule!r}: write NAME<VALUE (or <=, >, >=) with NAME one of "
                        f"{', '.join(DIRECTION)}")
    return found.group(1), found.group(2), float(found.group(3))


def check_gate(report: dict, rules: list[str], max_regression: float | None = None) -> dict:
    """The gate's verdict on `report`: {"passed", "failures", "rules", "max_regression"}."""
    parsed = [parse_rule(rule) for rule in rules]
    metrics = report["metrics"]
    candidate = metrics["candidate"]
    failures = []
    for name, sign, value in parsed:
        measured = candidate.get(name)
        if measured is None:
            failures.append(f"{name} could not be measured on these turns (it needs labelled turns), "
                            f"so `{name}{sign}{value:g}` fails")
        elif OPERATORS[sign](measured, value):
            failures.append(f"{name} is {measured:.4f}: the gate fails {WORDS[sign]} {value:g}")
    if max_regression is not None:
        reference_name = "baseline" if "baseline" in metrics else "logged"
        reference = metrics.get(reference_name)
        if reference is None:
            raise GateError("--max-regression needs a baseline (--baseline) or logged turns to compare with")
        for name, higher_is_better in DIRECTION.items():
            old, new = reference.get(name), candidate.get(name)
            if higher_is_better is None or name in NOT_WATCHED or old is None or new is None:
                continue
            drop = (old - new) if higher_is_better else (new - old)
            if drop > max_regression + 1e-9:
                failures.append(f"{name} went from {old:.4f} ({reference_name}) to {new:.4f}: "
                                f"worse by {drop:.4f}, more than --max-regression {max_regression:g}")
    return {"passed": not failures, "failures": failures, "rules": list(rules), "max_regression": max_regression}


def require_passing_replay(path: Path, model_version: str) -> dict:
    """The replay report at `path` if it tested `model_version` and its gate passed (what `chatbot
    model promote --require-replay` asks); `GateError` saying what is missing otherwise."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GateError(f"{path}: cannot read the replay report: {error}") from None
    if not isinstance(report, dict) or "metrics" not in report:
        raise GateError(f"{path}: not a replay report (write one with `chatbot replay --json-out`)")
    tested = (report.get("candidate") or {}).get("model_version")
    if tested != model_version:
        raise GateError(f"{path} replayed {'model version ' + tested if tested else 'no model version'}, "
                        f"not {model_version}: run `chatbot replay --model-version {model_version} --fail-if ...`")
    gate = report.get("gate") or {}
    if not gate.get("rules") and gate.get("max_regression") is None:
        raise GateError(f"{path}: the replay had no gate: run it with --fail-if and/or --max-regression")
    if not gate.get("passed"):
        raise GateError(f"{path}: the replay's gate failed: " + "; ".join(gate.get("failures") or []))
    return report
