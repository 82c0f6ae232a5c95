"""`chatbot logs unanswered|promote`: the unanswered queue from the shell (DESIGN.md "Contracts").
Each command calls one service (`chatbot.staff.queue_services`), the same the console's does.

    $ chatbot logs unanswered [--json] [--since 2026-12-01]      # groups, the most asked first
    $ chatbot logs promote 417-3fa2c1 --entry refunds            # its questions become alternates
    $ chatbot logs promote 417-3fa2c1 --new-id pay-yen --answer "Yes, we accept yen."

Exit codes as the rest of `chatbot`: 2 for what the caller can change (an unknown group or
entry, a taken id, a bad date), 3 when the database cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

import typer

from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.unanswered import UnansweredGroup

EXAMPLE_CHARS = 70  # the first example is cut to this many characters in the table


def group_json(group: "UnansweredGroup") -> dict:
    """A group as the contract's JSON: {"group", "count", "examples", "languages"}, then dates,
    reasons and turn ids."""
    return {"group": group.group, "count": group.count, "examples": group.examples, "languages": group.languages,
            "first_seen": group.first_seen.isoformat(), "last_seen": group.last_seen.isoformat(),
            "reasons": group.reasons, "turn_ids": group.turn_ids}


def parse_since(value: str | None) -> datetime | None:
    """A date (2026-12-01) or an ISO time as an aware UTC datetime; `ValueError` if neither."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def format_groups(groups: "list[UnansweredGroup]") -> str:
    """The queue as a table: group id, count, languages, last seen, the most typical question."""
    if not groups:
        return "the unanswered queue is empty"
    rows = []
    for g in groups:
        example = g.examples[0] if len(g.examples[0]) <= EXAMPLE_CHARS else g.examples[0][:EXAMPLE_CHARS - 1] + "…"
        rows.append([g.group, g.count, ",".join(g.languages) or "-", g.last_seen.strftime("%Y-%m-%d"), example])
    return "\n".join(text_table(["group", "count", "languages", "last seen", "example"], rows, left_columns=5))


def add_queue_commands(logs: typer.Typer, services: Callable[[], "Services"],
                       database_failures: Callable[[], AbstractContextManager[None]]) -> None:
    """Add `unanswered` and `promote` to the `logs` command group; `services` builds the
    application object, `database_failures` maps a database that is down to exit 3."""

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import Conflict, InvalidInput, UnknownItem

        with database_failures():
            try:
                yield
            except (Conflict, InvalidInput, UnknownItem) as exc:  # what the caller can change: exit 2
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    def since_option(value: Optional[str]) -> datetime | None:
        try:
            return parse_since(value)
        except ValueError:
            typer.echo(f"error: --since {value!r} is not a date (YYYY-MM-DD) or an ISO time", err=True)
            raise typer.Exit(2) from None

    @logs.command("unanswered")
    def unanswered(as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
                   since: Optional[str] = typer.Option(None, "--since", help="Only turns logged from this date "
                                                       "(YYYY-MM-DD, UTC) on.")) -> None:
        """Groups of similar unanswered questions (abstained, clarified, thumbs-down, handed off),
        the most asked first."""
        start = since_option(since)
        with failures():
            groups = services().unanswered_groups(since=start)
        typer.echo(json.dumps([group_json(g) for g in groups], ensure_ascii=False) if as_json
                   else format_groups(groups))

    @logs.command("promote")
    def promote(group: str = typer.Argument(..., help="The group's id (see `chatbot logs unanswered`)."),
                entry: Optional[str] = typer.Option(None, "--entry", help="Add the questions to this entry."),
                new_id: Optional[str] = typer.Option(None, "--new-id", help="Make a new entry with this id."),
                answer: Optional[str] = typer.Option(None, "--answer", help="The new entry's answer."),
                since: Optional[str] = typer.Option(None, "--since", help="As given to `logs unanswered`."),
                staff: str = typer.Option("cli", "--as", help="Your name, recorded with the labels.")) -> None:
        """Turn a group of unanswered questions into phrasings of an entry (existing or new)."""
        if (entry is None) == (new_id is None) or (new_id is not None and not answer) or (entry and answer):
            typer.echo("error: give --entry ID, or --new-id ID with --answer TEXT", err=True)
            raise typer.Exit(2)
        start = since_option(since)
        with failures():
            done = services().promote_group(group, author=staff, entry_id=entry, new_id=new_id, answer=answer,
                                            since=start)
        verb = "created" if done.created else "updated"
        typer.echo(f"entry {done.entry.id} {verb}: {len(done.added)} new phrasings, "
                   f"{done.labelled_turns} turns labelled")
