"""Offline evaluation of retrieval and the answer/abstain decision on a labelled test set.

Test set: JSON Lines, `{"query": str, "expected_id": str | null}`; null marks an out-of-scope
question the bot should abstain on. Metrics follow DESIGN.md's `chatbot eval` contract.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from chatbot.engine import ChatEngine, Decision


class TestSetError(ValueError):
    """The test set file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Case:
    query: str
    expected_id: str | None
    line: int


@dataclass(frozen=True)
class CaseResult:
    case: Case
    ranked_ids: list[str]
    abstained: bool
    latency_ms: float


def load_test_set(path: Path) -> list[Case]:
    """Read and check a test set; every problem names its line."""
    cases: list[Case] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TestSetError(f"{path}: cannot read the test set: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            raise TestSetError(f"{path}:{number}: expected an object with a string 'query'")
        expected = item.get("expected_id")
        if expected is not None and not isinstance(expected, str):
            raise TestSetError(f"{path}:{number}: 'expected_id' must be a string or null")
        cases.append(Case(item["query"], expected, number))
    if not cases:
        raise TestSetError(f"{path}: the test set has no cases")
    return cases


def run_cases(decide: Callable[[str], Decision], cases: list[Case], progress: bool = False) -> list[CaseResult]:
    """Run each case through `decide` (the engine's retrieval and decision), timing each."""
    results = []
    for case in tqdm(cases, desc="Evaluating", unit="query", disable=not progress):
        start = time.perf_counter()
        decision = decide(case.query)
        elapsed = (time.perf_counter() - start) * 1000
        results.append(CaseResult(case, [h.entry.id for h in decision.hits], decision.abstained, elapsed))
    return results


def _share(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def compute_metrics(results: list[CaseResult], k: int) -> dict[str, float | int]:
    """The metrics of DESIGN.md: ranking over in-scope cases, abstention over all."""
    in_scope = [r for r in results if r.case.expected_id is not None]
    out_scope = [r for r in results if r.case.expected_id is None]
    ranks = [r.ranked_ids.index(r.case.expected_id) + 1 if r.case.expected_id in r.ranked_ids else None
             for r in in_scope]
    abstentions = [r for r in results if r.abstained]
    latencies = np.array([r.latency_ms for r in results])
    return {
        "n": len(results),
        "hit@1": _share(sum(1 for rank in ranks if rank == 1), len(in_scope)),
        "hit@k": _share(sum(1 for rank in ranks if rank is not None and rank <= k), len(in_scope)),
        "mrr": round(sum(1 / rank for rank in ranks if rank is not None) / len(in_scope), 4) if in_scope else 0.0,
        "abstain_precision": _share(sum(1 for r in abstentions if r.case.expected_id is None), len(abstentions)),
        "abstain_recall": _share(sum(1 for r in out_scope if r.abstained), len(out_scope)),
        "answered_accuracy": _share(sum(1 for r, rank in zip(in_scope, ranks) if not r.abstained and rank == 1),
                                    len(in_scope)),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p95_ms": round(float(np.percentile(latencies, 95)), 3),
        "k": k,
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
        "answer_rate": _share(sum(1 for r in in_scope if not r.abstained), len(in_scope)),
    }


def evaluate(engine: ChatEngine, path: Path, k: int = 5, progress: bool = False) -> dict[str, float | int]:
    """Evaluate `engine` on the test set at `path` (retrieval and decision; nothing is logged)."""
    cases = load_test_set(path)
    depth = max(k, engine.settings.top_k)  # rank deep enough for hit@k, whatever the serving depth
    engine.retriever.warm_up()
    results = run_cases(lambda query: engine.decide(query, top_k=depth), cases, progress=progress)
    return compute_metrics(results, k)
