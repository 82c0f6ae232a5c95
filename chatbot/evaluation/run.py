"""Offline evaluation of retrieval and the answer/abstain decision on a labelled test set.

Test set: JSON Lines, `{"query": str, "expected_id": str | null}`; null marks an out-of-scope
question the bot should abstain on. Metrics follow DESIGN.md's `chatbot eval` contract, then add
the seeds' terms: answer and wrong-answer rates, per-entry precision / recall / F1 (the label is
the entry answered, or "abstain"; out-of-scope lines expect "abstain"), their macro average and
the most confused (expected -> predicted) pairs, and the same decision at other thresholds
(`chatbot.evaluation.tradeoff`).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from chatbot.engine import ChatEngine, Decision
from chatbot.evaluation.cases import ABSTAIN, CLARIFY, Case, CaseResult, load_test_set
from chatbot.evaluation.tradeoff import threshold_tradeoff

CONFUSED_PAIRS = 10


def run_cases(decide: Callable[[str], Decision], cases: list[Case], progress: bool = False) -> list[CaseResult]:
    """Run each case through `decide` (the engine's retrieval and decision), timing each."""
    results = []
    for case in tqdm(cases, desc="Evaluating", unit="query", disable=not progress):
        start = time.perf_counter()
        decision = decide(case.query)
        elapsed = (time.perf_counter() - start) * 1000
        results.append(CaseResult(case, [h.entry.id for h in decision.hits], decision.abstained, elapsed,
                                  decision.confidence, decision.action == "clarify",
                                  tuple(o.entry_id for o in decision.options)))
    return results


def _share(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def compute_metrics(results: list[CaseResult], k: int) -> dict:
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
        "answered_accuracy": _share(sum(1 for r, rank in zip(in_scope, ranks) if r.answered and rank == 1),
                                    len(in_scope)),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p95_ms": round(float(np.percentile(latencies, 95)), 3),
        "k": k,
        "in_scope": len(in_scope),
        "out_of_scope": len(out_scope),
        "in_scope_answer_rate": _share(sum(1 for r in in_scope if r.answered), len(in_scope)),
        # With clarification (DESIGN.md): a clarification is neither a hit nor an abstention.
        "clarify_rate": _share(sum(1 for r in in_scope if r.clarified), len(in_scope)),
        "resolved_rate": _share(sum(1 for r in in_scope if r.resolved), len(in_scope)),
        "out_of_scope_clarify_rate": _share(sum(1 for r in out_scope if r.clarified), len(out_scope)),
        **answer_metrics(results),
    }


def answer_metrics(results: list[CaseResult]) -> dict:
    """Answer and wrong-answer rates, per-entry precision / recall / F1 and their macro average,
    and the most confused pairs.

    Labels are entry ids and "abstain"; the per-entry rows and the macro average cover every
    entry expected or predicted (an abstention on an entry's line counts against its recall, an
    answer to an out-of-scope line against the precision of the entry answered; scikit-learn's
    zero_division=0: an undefined value counts 0). Confused pairs are the wrong answers by
    (expected, predicted), "abstain" expected for an out-of-scope question answered.
    """
    from sklearn.metrics import precision_recall_fscore_support

    answered = [r for r in results if r.answered]
    wrong = sum(1 for r in answered if r.answered_wrong)
    expected, predicted = [r.expected for r in results], [r.predicted for r in results]
    labels = sorted((set(expected) | set(predicted)) - {ABSTAIN, CLARIFY})
    if labels:
        precision, recall, f1, support = precision_recall_fscore_support(
            expected, predicted, labels=labels, zero_division=0)
    else:  # nothing expected or answered but abstentions
        precision = recall = f1 = support = np.zeros(0)
    confusions = Counter((r.expected, r.predicted) for r in answered if r.answered_wrong)
    top = sorted(confusions.items(), key=lambda item: (-item[1], item[0]))[:CONFUSED_PAIRS]
    predicted_counts = Counter(predicted)
    return {
        "answer_rate": _share(len(answered), len(results)),
        "wrong_answer_rate": _share(wrong, len(answered)),
        "wrong_answers_share_of_all": _share(wrong, len(results)),
        "macro_precision": round(float(precision.mean()), 4) if labels else 0.0,
        "macro_recall": round(float(recall.mean()), 4) if labels else 0.0,
        "macro_f1": round(float(f1.mean()), 4) if labels else 0.0,
        "per_entry": [
            {"id": label, "precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
             "support": int(n), "predicted": predicted_counts[label]}
            for label, p, r, f, n in zip(labels, precision, recall, f1, support)
        ],
        "confused_pairs": [{"expected": e, "predicted": p, "count": n} for (e, p), n in top],
    }


def run_evaluation(engine: ChatEngine, path: Path, k: int = 5,
                   progress: bool = False) -> tuple[list[CaseResult], dict]:
    """Run the test set at `path` through `engine` (retrieval and decision; nothing is logged):
    the per-case results and the metrics, with the answer threshold and the rule that set it."""
    cases = load_test_set(path)
    depth = max(k, engine.settings.top_k)  # rank deep enough for hit@k, whatever the serving depth
    engine.retriever.warm_up()
    results = run_cases(lambda query: engine.decide(query, top_k=depth), cases, progress=progress)
    calibration = engine.retriever.snapshot().manifest.calibration or {}
    rule = "setting" if engine.settings.answer_threshold is not None else calibration.get("rule", "quantile")
    threshold = engine.answer_threshold
    tradeoff = [row.to_dict() for row in threshold_tradeoff(results, threshold)]
    band = engine.band
    return results, {**compute_metrics(results, k), "answer_threshold": threshold, "threshold_rule": rule,
                     "threshold_tradeoff": tradeoff, "clarify_threshold": band.clarify,
                     "clarify_answer_threshold": band.answer, "clarify_margin": band.margin}


def evaluate(engine: ChatEngine, path: Path, k: int = 5, progress: bool = False) -> dict:
    """Evaluate `engine` on the test set at `path`: the metrics of `run_evaluation`."""
    return run_evaluation(engine, path, k, progress)[1]
