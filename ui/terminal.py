"""Plain-text views of what the services return, for the `chatbot` command: logged turns and
their labels (`chatbot logs`), an index's calibration (`chatbot index`), the generator's model
versions (`chatbot model list`). Every table goes through `text_table`, the one table helper."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.conversations.labels import LoggedTurn, TurnLabel
from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.generators.registry import ModelCard
    from knowledge_base.index.snapshot import Manifest

QUESTION_CHARS = 70  # a question is cut to this many characters in a listing


def describe_label(label: TurnLabel | None) -> str:
    """One line: the expected entry (or out of scope) and the review, e.g. "returns, approved"."""
    if label is None:
        return "-"
    scope = "out of scope" if label.out_of_scope else f"entry {label.expected_id}"
    if label.review == "corrected":
        return f"{scope}, corrected: {label.corrected_answer}"
    return f"{scope}, {label.review}" if label.review else scope


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_turns(turns: list[LoggedTurn]) -> str:
    """A table of turns: id, time, decision, top entry and score, label, question."""
    if not turns:
        return "no turns logged yet"
    header = ["id", "time (UTC)", "decision", "top entry", "label", "question"]
    rows = []
    for turn in turns:
        top = "-" if turn.top_entry_id is None else f"{turn.top_entry_id} ({turn.top_score:.2f})"
        rows.append([str(turn.turn_id), turn.created_at.strftime("%Y-%m-%d %H:%M"), turn.decision, top,
                     _short(describe_label(turn.label), 40), _short(turn.question, QUESTION_CHARS)])
    return "\n".join(text_table(header, rows, left_columns=len(header)))


def format_calibration(manifest: "Manifest") -> list[str]:
    """The answer threshold, the rule that chose it and what it does on the calibration pairs;
    then a table of what each other target wrong-answer rate would choose on the same pairs."""
    calibration = manifest.calibration or {}
    threshold = "none" if manifest.answer_threshold is None else f"{manifest.answer_threshold:.4f}"
    line = f"answer threshold {threshold} ({calibration.get('rule', 'quantile')} rule"
    if calibration.get("answer_rate") is not None:
        line += (f"; on {calibration['pairs']} calibration pairs, {calibration['labelled_turns']} of them "
                 f"labelled turns: answers {calibration['answer_rate']:.1%}, "
                 f"wrong {calibration['wrong_rate']:.1%} of those")
    lines = [line + ")"]
    alternatives = [a for a in calibration.get("alternatives") or [] if a.get("threshold") is not None]
    if alternatives:
        lines.append("at other values of CHATBOT_TARGET_WRONG_RATE, on the same pairs:")
        lines += ["  " + row for row in text_table(
            ["target", "threshold", "rule", "answered", "wrong of answered"],
            [[f"{a['target']:.0%}", f"{a['threshold']:.4f}", a["rule"], f"{a['answer_rate']:.1%}",
              f"{a['wrong_rate']:.1%}"] for a in alternatives])]
    return lines


def format_model_versions(cards: list["ModelCard"], promoted: str | None) -> str:
    """The fine-tuned versions (oldest first) with their held-out metrics; * marks `promoted`."""
    if not cards:
        return "no model versions yet: run `chatbot finetune`"
    header = ["", "id", "base", "kind", "created", "exact answer", "grounded", "loss"]
    rows = [["*" if card.id == promoted else "", card.id, card.base, card.kind, card.created,
             card.metric_change("exact_answer"), card.metric_change("grounded_rate"), card.metric_change("loss")]
            for card in cards]
    return "\n".join([*text_table(header, rows, left_columns=len(header)),
                      f"serving: {promoted or 'the base model'} (metrics: held out, before->after)"])
