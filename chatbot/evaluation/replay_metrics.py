"""A replay's metrics: how the logged bot, the baseline and the candidate did on the same turns.

For each of them, over the turns it has an outcome for:
- agreement with the logged bot: the share of turns with the same action, and of the logged
  answers answered from the same top entry;
- where a label says which entry should have answered (staff labels, customers' clarification
  choices, a test set's `expected_id`): the `chatbot eval` metrics (`chatbot.evaluation.run`):
  hit@1, hit@k, MRR, resolved_rate, wrong_answer_rate, abstention precision/recall, per-entry
  precision/recall/F1;
- answer similarity: the cosine of the answer's embedding with the reference answer's (the
  staff's corrected answer where there is one, else the logged answer);
- grounded rate (of the answers that were checked) and latency p50/p95;
and the same, less the per-entry rows, for each language.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from chatbot.evaluation.cases import Case, CaseResult
from chatbot.evaluation.run import compute_metrics
from chatbot.evaluation.replay_source import Outcome, ReplayTurn

Encode = Callable[[Sequence[str]], np.ndarray]
NOT_ANSWERED = ("abstain", "handoff", "rejected", "smalltalk")
# The label metrics a replay reports (of `compute_metrics`' keys), and whether higher is better.
LABEL_METRICS = {"hit@1": True, "hit@k": True, "mrr": True, "resolved_rate": True, "wrong_answer_rate": False,
                 "answered_accuracy": True, "abstain_precision": True, "abstain_recall": True,
                 "clarify_rate": False, "macro_f1": True}
# Every headline metric and whether higher is better (what `--max-regression` watches; None: neither).
DIRECTION = {"action_agreement": None, "top_entry_agreement": None, **LABEL_METRICS,
             "answer_similarity": True, "grounded_rate": True, "answer_rate": None,
             "p50_ms": False, "p95_ms": False}


def _share(hits: int, count: int) -> float | None:
    return round(hits / count, 4) if count else None


def case_result(turn: ReplayTurn, outcome: Outcome) -> CaseResult:
    """An outcome as `chatbot eval` scores it: the entry answered with, a clarification's options,
    or an abstention (a hand-off, small talk or a refused message answered no question either)."""
    ranked = outcome.ranked_ids or outcome.entry_ids
    if outcome.action == "answer" and outcome.entry_ids:
        ranked = [outcome.entry_ids[0], *(i for i in ranked if i != outcome.entry_ids[0])]
    return CaseResult(Case(turn.question, turn.expected_id, 0), list(ranked), outcome.action in NOT_ANSWERED,
                      outcome.latency_ms, outcome.scores[0] if outcome.scores else 0.0,
                      outcome.action == "clarify", tuple(outcome.entry_ids) if outcome.action == "clarify" else ())


def compare_turn(reference: Outcome | None, new: Outcome) -> list[str]:
    """What changed from `reference` to `new`: "action", "entry" (the top one named), "answer"."""
    if reference is None:
        return []
    changes = []
    if reference.action != new.action:
        changes.append("action")
    if reference.entry_ids[:1] != new.entry_ids[:1]:
        changes.append("entry")
    if reference.answer.strip() != new.answer.strip():
        changes.append("answer")
    return changes


def answer_similarities(turns: list[ReplayTurn], logged: list[Outcome | None],
                        outcomes: list[Outcome | None], encode: Encode) -> list[float | None]:
    """Per turn, the cosine of the outcome's answer with the reference answer (None: either is empty)."""
    references = [t.corrected_answer or (lg.answer if lg else "") for t, lg in zip(turns, logged)]
    pairs = [(r.strip(), o.answer.strip() if o else "") for r, o in zip(references, outcomes)]
    texts = sorted({text for pair in pairs for text in pair if text})
    if not texts:
        return [None] * len(turns)
    vectors = dict(zip(texts, encode(texts)))  # unit vectors: the dot product is the cosine
    return [round(float(np.dot(vectors[r], vectors[o])), 4) if r and o else None for r, o in pairs]


def outcome_metrics(turns: list[ReplayTurn], logged: list[Outcome | None], outcomes: list[Outcome | None],
                    similarity: list[float | None], k: int, per_entry: bool = True) -> dict:
    """The metrics of the module's docstring over the turns that have an outcome."""
    kept = [i for i, o in enumerate(outcomes) if o is not None]
    if not kept:
        return {"n": 0}
    mine = [outcomes[i] for i in kept]
    with_log = [i for i in kept if logged[i] is not None]
    answered_log = [i for i in with_log if logged[i].action == "answer"]
    checked = [o.grounded for o in mine if o.grounded is not None]
    latencies = np.array([o.latency_ms for o in mine])
    scored = [similarity[i] for i in kept if similarity[i] is not None]
    metrics: dict = {
        "n": len(kept),
        "action_agreement": _share(sum(outcomes[i].action == logged[i].action for i in with_log), len(with_log)),
        "top_entry_agreement": _share(sum(outcomes[i].action == "answer" and outcomes[i].entry_ids[:1] ==
                                          logged[i].entry_ids[:1] for i in answered_log), len(answered_log)),
        "answer_rate": _share(sum(o.action == "answer" for o in mine), len(mine)),
        "answer_similarity": round(float(np.mean(scored)), 4) if scored else None,
        "grounded_rate": _share(sum(checked), len(checked)),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p95_ms": round(float(np.percentile(latencies, 95)), 2),
        "actions": {a: sum(o.action == a for o in mine) for a in sorted({o.action for o in mine})},
    }
    labelled = [i for i in kept if turns[i].labelled]
    metrics["labelled"] = len(labelled)
    if labelled:
        scored_cases = compute_metrics([case_result(turns[i], outcomes[i]) for i in labelled], k)
        metrics.update({name: scored_cases[name] for name in LABEL_METRICS})
        if per_entry:
            metrics["per_entry"] = scored_cases["per_entry"]
    else:
        metrics.update({name: None for name in LABEL_METRICS})
    return metrics


def summarize(turns: list[ReplayTurn], logged: list[Outcome | None], baseline: list[Outcome | None] | None,
              candidate: list[Outcome], k: int,
              encode: Encode) -> tuple[dict, dict, list[float | None]]:
    """The metrics of the logged bot, the baseline (if any) and the candidate, overall and by
    language, and the candidate's answer similarity per turn."""
    runs: dict[str, list] = {"logged": logged, "candidate": list(candidate)}
    if baseline is not None:
        runs["baseline"] = baseline
    if all(o is None for o in logged):
        del runs["logged"]  # a test set: nothing was logged
    similarity = {name: answer_similarities(turns, logged, outcomes, encode) for name, outcomes in runs.items()
                  if name != "logged"}
    similarity["logged"] = [None] * len(turns)
    overall = {name: outcome_metrics(turns, logged, outcomes, similarity[name], k) for name, outcomes in runs.items()}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, turn in enumerate(turns):
        groups[(turn.logged.language if turn.logged else "") or candidate[i].language or "?"].append(i)
    by_language = {}
    for language, indexes in sorted(groups.items(), key=lambda item: -len(item[1])):
        pick = lambda values: [values[i] for i in indexes]  # noqa: E731
        by_language[language] = {name: outcome_metrics(pick(turns), pick(logged), pick(outcomes),
                                                       pick(similarity[name]), k, per_entry=False)
                                 for name, outcomes in runs.items()}
    return overall, by_language, similarity["candidate"]
