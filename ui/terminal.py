"""Plain-text views of logged turns and their labels, for `chatbot logs`."""

from __future__ import annotations

from chatbot.conversations.labels import LoggedTurn, TurnLabel

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
    rows = [["id", "time (UTC)", "decision", "top entry", "label", "question"]]
    for turn in turns:
        top = "-" if turn.top_entry_id is None else f"{turn.top_entry_id} ({turn.top_score:.2f})"
        rows.append([str(turn.turn_id), turn.created_at.strftime("%Y-%m-%d %H:%M"), turn.decision, top,
                     _short(describe_label(turn.label), 40), _short(turn.question, QUESTION_CHARS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                     for row in rows)
