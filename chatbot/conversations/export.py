"""Exports of logged turns, one row per turn, as CSV or JSON Lines, produced line by line so that
a large selection streams instead of sitting in memory.

    >>> rows = ConversationSearch(engine).turns(criteria, max_turns=MAX_EXPORT_TURNS)
    >>> for line in export_lines(rows, "csv"): out.write(line)

Each row holds the conversation and turn ids, the time, channel and language, the customer's
question and the reply as logged (PII redacted), the decision, the entries with their scores,
the generator, the KB version, the latency, the grounding result and the customer's feedback.
CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab) get a
leading apostrophe (OWASP's advice on CSV injection): customers write what they like.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from chatbot.conversations.search import LoggedTurnRow
from chatbot.errors import InvalidInput

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
MAX_EXPORT_TURNS = 100_000  # an export stops here; narrow the filters for the rest
FIELDS = ("conversation_id", "turn_id", "time", "channel", "language", "question", "answer", "decision",
          "entry_ids", "scores", "generator", "kb_version", "latency_ms", "grounded", "grounding_reasons",
          "feedback", "feedback_comment")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def check_format(name: str) -> str:
    """`name` if it is an export format (csv, jsonl); else `InvalidInput` naming them."""
    if name not in FORMATS:
        raise InvalidInput(f"The export format {str(name)[:20]!r} is not one of {', '.join(FORMATS)}.")
    return name


def turn_record(row: LoggedTurnRow) -> dict:
    """One turn as a flat record of `FIELDS` (lists stay lists: JSON keeps them, CSV joins them)."""
    trace = row.trace
    return {"conversation_id": row.conversation_id, "turn_id": trace.id, "time": trace.created_at.isoformat(),
            "channel": row.channel, "language": trace.language, "question": row.question, "answer": row.answer,
            "decision": trace.decision, "entry_ids": list(trace.entry_ids),
            "scores": [round(float(s), 4) for s in trace.scores], "generator": trace.generator,
            "kb_version": trace.kb_version, "latency_ms": round(trace.latency_ms, 1), "grounded": trace.grounded,
            "grounding_reasons": list(trace.grounding_reasons),
            "feedback": row.feedback.rating if row.feedback else None,
            "feedback_comment": row.feedback.comment if row.feedback else None}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "|".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([_cell(v) for v in values])
    return buffer.getvalue()


def export_lines(rows: Iterable[LoggedTurnRow], format: str) -> Iterator[str]:
    """The export of `rows` in `format`, line by line (CSV: a header line first)."""
    check_format(format)
    if format == "csv":
        yield _csv_line(FIELDS)
        for row in rows:
            record = turn_record(row)
            yield _csv_line(record[name] for name in FIELDS)
    else:
        for row in rows:
            yield json.dumps(turn_record(row), ensure_ascii=False) + "\n"
