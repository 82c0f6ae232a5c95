"""Replay: re-run customer turns (logged, or a test set's) through a candidate engine and set
each new reply beside the logged one (and a baseline's), with metrics, for the report and the gate.

    >>> turns = logged_turns(services.database, ReplaySlice(labelled_only=True))
    >>> report = run_replay(services, turns, Candidate(kb_file=Path("new_faq.csv")), baseline="current")
    >>> report["metrics"]["candidate"]["resolved_rate"], report["changed"]

Each turn is the first of a fresh conversation in the candidate's engine, with the logged history
up to it (a test set's conversation: the candidate's own earlier replies), so rewriting,
hand-off offers and small talk behave as they did. Nothing is written to the production log
(`chatbot.evaluation.replay_candidate.ReplayLog`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone

from tqdm.auto import tqdm

from chatbot.engine import ChatEngine
from chatbot.errors import ChatbotError
from chatbot.evaluation.replay_candidate import Candidate, ReplayError, Services, candidate_engine
from chatbot.evaluation.replay_metrics import compare_turn, summarize
from chatbot.evaluation.replay_source import Outcome, ReplayTurn
from chatbot.generators.base import Generator
from chatbot.messages import ChatMessage
from chatbot.stages.guard import check_message

REPORT_VERSION = 1
Progress = Callable[[int, int], None]  # (turns done, turns in all)


def run_turns(engine: ChatEngine, turns: list[ReplayTurn], progress: bool = False,
              on_turn: Callable[[], None] | None = None, desc: str = "Replaying") -> list[Outcome]:
    """Each turn through `engine` (see the module's docstring); a turn the engine refuses with a
    typed error comes back as "rejected" with the error as its answer."""
    own: dict[str, list[ChatMessage]] = {}  # a test set conversation's history: the candidate's replies
    outcomes = []
    prime = getattr(engine.retriever.embedder, "prime", None)  # `QueryCache`: embed the questions in batches
    if prime is not None:
        limit = engine.settings.max_message_chars
        prime([checked.text for checked in (check_message(t.question, limit) for t in turns) if checked.ok])
    for turn in tqdm(turns, desc=desc, unit="turn", disable=not progress):
        history = list(turn.history) if turn.history is not None else own.setdefault(turn.conversation_id, [])
        try:
            reply = engine.respond(None, turn.question, history=list(history))
            outcome = Outcome.of_reply(reply)
        except ChatbotError as error:
            outcome = Outcome(str(error), "rejected", [])
        if turn.history is None:
            history += [ChatMessage("user", turn.question), ChatMessage("assistant", outcome.answer)]
        outcomes.append(outcome)
        if on_turn is not None:
            on_turn()
    return outcomes


def baseline_outcomes(previous: dict, turns: list[ReplayTurn]) -> list[Outcome | None]:
    """An earlier replay's candidate outcomes (its JSON report), matched to `turns` by key; None
    for a turn it did not replay."""
    if not isinstance(previous, dict) or previous.get("version") != REPORT_VERSION or "turns" not in previous:
        raise ReplayError("the baseline is not a replay report (its JSON output, version "
                          f"{REPORT_VERSION})")
    by_key = {t["key"]: t["candidate"] for t in previous["turns"]}
    return [Outcome.of_json(by_key[t.key]) if t.key in by_key else None for t in turns]


def run_replay(services: Services, turns: list[ReplayTurn], candidate: Candidate,
               baseline: Candidate | dict | None = None, progress: bool = False,
               on_progress: Progress | None = None, generator: Generator | None = None,
               source: dict | None = None) -> dict:
    """Replay `turns` under `candidate` (and `baseline`: another candidate, or an earlier replay's
    report) and return the report: per turn the logged, baseline and candidate outcomes and what
    changed, and the metrics of each (`chatbot.evaluation.replay_metrics`). `generator` replaces
    the candidate's (tests script one); `on_progress(done, total)` follows the run."""
    if not turns:
        raise ReplayError("nothing to replay: the selection has no turns")
    started = time.perf_counter()
    total = len(turns) * (2 if isinstance(baseline, Candidate) else 1)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    base: list[Outcome | None] | None = None
    if isinstance(baseline, Candidate):
        with candidate_engine(services, baseline) as engine:
            base = list(run_turns(engine, turns, progress, step, desc="Replaying the baseline"))
    elif baseline is not None:
        base = baseline_outcomes(baseline, turns)
    with candidate_engine(services, candidate, generator) as engine:
        new = run_turns(engine, turns, progress, step)
        k = engine.settings.top_k
        encode = engine.retriever.embedder.encode
    logged = [Outcome.of_logged(t.logged) if t.logged else None for t in turns]
    seconds = time.perf_counter() - started
    metrics, by_language, similarity = summarize(turns, logged, base, new, k, encode)
    reference = base if base is not None else logged
    rows = []
    for i, turn in enumerate(turns):
        changes = compare_turn(reference[i], new[i])
        rows.append({"key": turn.key, "conversation_id": turn.conversation_id, "question": turn.question,
                     "created_at": turn.created_at, "channel": turn.channel,
                     "label": {"labelled": turn.labelled, "expected_id": turn.expected_id,
                               "source": turn.label_source, "corrected_answer": turn.corrected_answer},
                     "feedback": turn.feedback, "logged": asdict(logged[i]) if logged[i] else None,
                     "baseline": asdict(base[i]) if base is not None and base[i] else None,
                     "candidate": asdict(new[i]), "changes": changes, "similarity": similarity[i]})
    return {
        "version": REPORT_VERSION, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source or {}, "candidate": {**candidate.describe(), "label": candidate.label},
        "baseline": _baseline_description(baseline), "compared_with": "baseline" if base is not None else "logged",
        "n": len(turns), "changed": sum(1 for r in rows if r["changes"]), "k": k,
        "seconds": round(seconds, 2), "turns_per_s": round(total / seconds, 1) if seconds else None,
        "metrics": metrics, "by_language": by_language, "turns": rows,
    }


def _baseline_description(baseline: Candidate | dict | None) -> dict | None:
    if isinstance(baseline, Candidate):
        return {**baseline.describe(), "label": baseline.label}
    if isinstance(baseline, dict):
        return {"report": baseline.get("created_at"), "label": f"replay of {baseline.get('created_at')}",
                **{k: v for k, v in (baseline.get("candidate") or {}).items() if k != "label"}}
    return None
