"""`chatbot conversations list | export | delete-visitor-data | deletions`: the conversation log from
the command line, over the same services as the console (`chatbot.conversation_log_services`).

    $ chatbot conversations list --action handoff --from 2026-12-01 [--json]
    $ chatbot conversations export turns.csv --feedback down          # or .jsonl; one row per turn
    $ chatbot conversations delete-visitor-data ID --reason "Ticket 4411" [--as ada]
    $ chatbot conversations delete-visitor-data --email mei@example.com --reason "Email of 1 Dec"
    $ chatbot conversations deletions [--json]

Exit codes as the rest of `chatbot`: 2 for a bad filter, an unknown conversation or a missing
reason, 3 when the database cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.services import Services

QUESTION_CHARS = 50


def add_log_commands(app: typer.Typer, services: Callable[[], "Services"],
                     failures: Callable[[], AbstractContextManager[None]], default_staff: Callable[[], str]) -> None:
    """Add the commands to the `conversations` group (`ui.conversations_cli`), whose `failures`
    maps the errors to exit codes and whose `default_staff` names who runs them."""

    def criteria(date_from: str, date_to: str, language: str, channel: str, action: str, feedback: str,
                 text: str, state: str):
        return services().conversation_filter(date_from, date_to, language, channel, action, feedback, text, state)

    @app.command("list")
    def list_(date_from: str = typer.Option("", "--from", help="Started on or after (YYYY-MM-DD, UTC)."),
              date_to: str = typer.Option("", "--to", help="Started on or before (YYYY-MM-DD, UTC)."),
              language: str = typer.Option("", help="e.g. en"), channel: str = typer.Option("", help="web, widget, cli"),
              action: str = typer.Option("", help="answer, clarify, abstain, handoff, smalltalk, rejected"),
              feedback: str = typer.Option("", help="up, down or any"),
              text: str = typer.Option("", help="Contained in any message (any case)."),
              state: str = typer.Option("", help="bot, waiting or human"),
              limit: int = typer.Option(50, min=1, max=500), offset: int = typer.Option(0, min=0),
              as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """Logged conversations, newest first, filtered."""
        from ui.console.conversation_api import listing_json

        with failures():
            found = services().search_conversations(criteria(date_from, date_to, language, channel, action, feedback,
                                                             text, state), limit, offset)
        if as_json:
            typer.echo(json.dumps({"total": found.total, "offset": found.offset,
                                   "conversations": [listing_json(c) for c in found.conversations]}, ensure_ascii=False))
            return
        rows = [[c.id, c.created_at.strftime("%Y-%m-%d %H:%M"), c.channel, c.language or "-", c.state, str(c.turns),
                 ",".join(c.actions), (c.first_question[:QUESTION_CHARS - 1] + "…")
                 if len(c.first_question) > QUESTION_CHARS else c.first_question] for c in found.conversations]
        typer.echo(f"{found.total} conversation(s)")
        if rows:
            typer.echo("\n".join(text_table(["id", "started (UTC)", "channel", "lang", "state", "turns", "actions",
                                             "first question"], rows, left_columns=8)))

    @app.command("export")
    def export(path: Path = typer.Argument(..., help="The file to write: .csv or .jsonl."),
               date_from: str = typer.Option("", "--from"), date_to: str = typer.Option("", "--to"),
               language: str = typer.Option(""), channel: str = typer.Option(""), action: str = typer.Option(""),
               feedback: str = typer.Option(""), text: str = typer.Option(""), state: str = typer.Option("")) -> None:
        """Write the filtered conversations' turns, one row per turn, as CSV or JSON Lines."""
        fmt = path.suffix.lower().lstrip(".")
        with failures():
            lines = services().export_conversations(criteria(date_from, date_to, language, channel, action, feedback,
                                                             text, state), fmt)
            count = -1 if fmt == "csv" else 0  # the CSV header is not a turn
            with path.open("w", encoding="utf-8", newline="") as out:
                for line in lines:
                    out.write(line)
                    count += 1
        typer.echo(f"{max(count, 0)} turn(s) written to {path}")

    @app.command("delete-visitor-data")
    def delete_visitor_data(
            conversation_id: str = typer.Argument(None, help="A conversation of the visitor (their others go too)."),
            email: str = typer.Option(None, "--email", help="Instead: the contact email they left."),
            reason: str = typer.Option(..., help="Why (the request and its date): kept in the record."),
            staff: str = typer.Option(None, "--as", help="Your name for the record (default: your user name).")) -> None:
        """Delete a visitor's conversations from every table, for good; a record keeps who, when, why."""
        with failures():
            done = services().delete_visitor_data(staff or default_staff(), reason, conversation_id=conversation_id,
                                                  email=email)
        typer.echo(f"deleted {done.conversations} conversation(s), {done.messages} message(s), {done.turns} turn(s); "
                   f"record {done.id}, sha256 {done.content_sha256}")

    @app.command("deletions")
    def deletions(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """The privacy deletions done, newest first."""
        from ui.console.conversation_api import deletion_json

        with failures():
            done = services().privacy_deletions()
        if as_json:
            typer.echo(json.dumps([deletion_json(d) for d in done], ensure_ascii=False))
        elif not done:
            typer.echo("no privacy deletion yet")
        else:
            typer.echo("\n".join(text_table(["when (UTC)", "by", "conversations", "turns", "reason"], [
                [d.deleted_at.strftime("%Y-%m-%d %H:%M"), d.deleted_by, str(d.conversations), str(d.turns), d.reason]
                for d in done], left_columns=5)))
