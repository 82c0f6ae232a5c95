"""What the fuzz suite found, kept until the end of a run: problems grouped by kind (endpoint,
status, message), each with its count and its shortest input, so that one run reports every
class of failure instead of stopping at the first; and the tracebacks that reached a log.

    problems = Problems("sqlite")
    with catch_tracebacks(problems) as catcher:
        catcher.current = "POST /api/ask b'...'"   # what is in flight, named in any traceback
        problems.add("/api/ask", "status 500", "...", request_bytes)
    assert not problems, problems.report()
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# How much of an input or a body a report quotes: enough to reproduce, short enough to read.
QUOTE_BYTES = 300
MAX_GROUPS_SHOWN = 40


def quote(data: bytes | str, limit: int = QUOTE_BYTES) -> str:
    """`data` as a Python literal, cut to `limit` characters with its full length named."""
    shown = repr(data[:limit])
    return shown if len(data) <= limit else f"{shown}... ({len(data)} in all)"


@dataclass
class ProblemGroup:
    """Every problem of one kind: how many, and the shortest input that showed it."""

    where: str
    kind: str
    detail: str
    count: int = 0
    smallest: bytes | str = b""

    def add(self, reproduction: bytes | str) -> None:
        self.count += 1
        if self.count == 1 or len(reproduction) < len(self.smallest):
            self.smallest = reproduction


@dataclass
class Problems:
    """The problems of one run against one database, grouped by (where, kind, detail)."""

    database: str
    groups: dict[tuple[str, str, str], ProblemGroup] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, where: str, kind: str, detail: str, reproduction: bytes | str) -> None:
        """Record one problem; `detail` should not hold the input (it groups problems)."""
        key = (where, kind, detail[:160])
        with self._lock:
            group = self.groups.setdefault(key, ProblemGroup(*key))
            group.add(reproduction)

    def __bool__(self) -> bool:
        return bool(self.groups)

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups.values())

    def report(self) -> str:
        """Every group, most frequent first, with its shortest reproduction (written in full to
        the folder CHATBOT_TEST_FUZZ_DUMP names, if set)."""
        ordered = sorted(self.groups.values(), key=lambda g: -g.count)
        dump = os.environ.get("CHATBOT_TEST_FUZZ_DUMP")
        if dump:
            for number, group in enumerate(ordered):
                name = re.sub(r"[^A-Za-z0-9]+", "-", f"{self.database} {number} {group.where} {group.kind}")[:120]
                data = group.smallest if isinstance(group.smallest, bytes) else group.smallest.encode(
                    "utf-8", "backslashreplace")
                os.makedirs(dump, exist_ok=True)
                with open(os.path.join(dump, name + ".txt"), "wb") as handle:
                    handle.write(f"{group.where}: {group.kind}: {group.detail}\n\n".encode("utf-8", "backslashreplace")
                                 + data)
        lines = [f"{self.total} problems in {len(ordered)} kinds on {self.database}:"]
        for group in ordered[:MAX_GROUPS_SHOWN]:
            lines.append(f"- [{group.count}x] {group.where}: {group.kind}: {group.detail}")
            lines.append(f"    shortest input: {quote(group.smallest)}")
        if len(ordered) > MAX_GROUPS_SHOWN:
            lines.append(f"... and {len(ordered) - MAX_GROUPS_SHOWN} more kinds")
        return "\n".join(lines)


class TracebackCatcher(logging.Handler):
    """Records every log record that carries a traceback (or the word), naming the input in
    flight: the server runs in this process, so its logs pass here."""

    def __init__(self, problems: Problems) -> None:
        super().__init__(level=logging.DEBUG)
        self.problems = problems
        self.current: str = "(no input in flight)"
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not format is still a finding
            text = str(record.msg)
        if record.exc_info or "Traceback" in text:
            self.count += 1
            error = record.exc_info[1] if record.exc_info else None
            summary = f"{type(error).__name__}: {str(error)[:120]}" if error else text.splitlines()[-1][:160]
            self.problems.add(f"log {record.name}", "traceback", summary, self.current)


# uvicorn's loggers do not propagate to the root logger: each is listened to.
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette")


@contextmanager
def catch_tracebacks(problems: Problems) -> Iterator[TracebackCatcher]:
    """Listen to the root and the server's loggers, and to exceptions that end a thread."""
    catcher = TracebackCatcher(problems)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:
        logger.addHandler(catcher)
    previous_hook = threading.excepthook

    def thread_died(args: threading.ExceptHookArgs) -> None:
        problems.add(f"thread {args.thread.name if args.thread else '?'}", "uncaught exception",
                     f"{args.exc_type.__name__}: {str(args.exc_value)[:120]}", catcher.current)
        previous_hook(args)

    threading.excepthook = thread_died
    try:
        yield catcher
    finally:
        threading.excepthook = previous_hook
        for logger in loggers:
            logger.removeHandler(catcher)


def check_output_has_no_traceback(problems: Problems, where: str, output: str) -> None:
    """A captured stdout/stderr that shows a traceback is a problem (its last line names it)."""
    if "Traceback (most recent call last)" in output:
        tail = output[output.rindex("Traceback (most recent call last)"):].strip().splitlines()
        problems.add(where, "traceback printed", tail[-1][:160] if tail else "", output[-2000:])
