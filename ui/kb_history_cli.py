"""`chatbot kb history|rollback|versions`: an entry's versions with what changed, rollbacks of an
entry or of the whole knowledge base, the KB's versions (DESIGN.md "Contracts"). Each command
calls one service (`chatbot.kb_history_services`).

    $ chatbot kb history returns [--json]        # newest first; diffs in git's [-old-]{+new+} marks
    $ chatbot kb rollback returns --to 3 --reason "the new policy is not live yet" --as alice
    $ chatbot kb rollback --kb-version 12        # the whole knowledge base as it was at version 12
    $ chatbot kb versions [--json]

A rollback is a new KB version, and the index follows it before the command returns. Exit codes
as the rest of `chatbot`: 2 for what the caller can change (an unknown entry or version, a bad
combination of options, a long reason), 3 when the database cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Optional

import typer

from chatbot.evaluation.report import text_table
from knowledge_base.history_diff import as_json, as_text

if TYPE_CHECKING:
    from chatbot.kb_history_services import EntryHistory
    from chatbot.services import Services
    from knowledge_base.revisions import KBVersion, RollbackResult

DEFAULT_AUTHOR = "cli"  # who a command-line change is by, unless --as names someone


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def history_json(history: "EntryHistory") -> dict:
    """An entry's history as JSON (the CLI's --json and the staff API's answer)."""
    return {"entry_id": history.entry_id, "live": history.current is not None, "history_begins": history.begins,
            "versions": [{"kb_version": item.revision.kb_version, "created_at": item.revision.created_at.isoformat(),
                          "author": item.revision.author, "reason": item.revision.reason, "change": item.change,
                          "same_as": item.same_as, "deleted": item.revision.deleted, "entry": item.revision.entry.to_dict(),
                          "changes": [as_json(field) for field in item.fields]} for item in history.items]}


def version_json(version: "KBVersion") -> dict:
    return {"version": version.version, "created_at": version.created_at.isoformat(), "summary": version.summary,
            "author": version.author, "reason": version.reason, "entry_ids": list(version.entry_ids)}


def rollback_json(result: "RollbackResult") -> dict:
    return {"kb_version": result.version, "changed": result.version is not None, "restored": result.restored,
            "deleted": result.deleted}


def _shown_fields(entry) -> list[tuple[str, str]]:
    values = [(name, " | ".join(value) if isinstance(value, list) else value)
              for name, value in entry.to_dict().items() if name != "id"]
    return [(name, value) for name, value in values if value]


def history_lines(history: "EntryHistory") -> list[str]:
    """An entry's history as text: one heading line per version, its changes indented below."""
    state = "live" if history.current is not None else "deleted"
    lines = [f"{history.entry_id}: {len(history.items)} version{'s' if len(history.items) != 1 else ''} ({state})"]
    for item in history.items:
        revision = item.revision
        reason = f"  reason: {revision.reason}" if revision.reason else ""
        same = f" (as at version {item.same_as})" if item.same_as else ""
        lines.append(f"version {revision.kb_version}  {_when(revision.created_at)}  {item.change}{same}  "
                     f"by {revision.author or '(unknown)'}{reason}")
        if item.change in ("created", "recorded"):  # nothing to compare with: the entry as it was
            lines.extend(f"    {name}: {value}" for name, value in _shown_fields(revision.entry))
        else:
            lines.extend("    " + line for field in item.fields for line in as_text(field).split("\n"))
    if history.begins:
        lines.append(f"(history was recorded from KB version {history.begins} on)")
    return lines


def add_history_commands(kb_app: typer.Typer, services: Callable[[], "Services"],
                         database_failures: Callable[[], AbstractContextManager[None]]) -> None:
    """Add `history`, `rollback` and `versions` to the `kb` command group; `services` builds the
    application object and `database_failures` maps a database that is down to exit 3 (both
    from `ui.cli`)."""

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import InvalidInput, UnknownItem

        with database_failures():
            try:
                yield
            except (InvalidInput, UnknownItem) as exc:  # what the caller can change: exit 2
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    @kb_app.command("history")
    def history(entry_id: str = typer.Argument(..., help="The entry's id (see `chatbot kb list`)."),
                as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
        """An entry's versions, the newest first: when, by whom, why, and what changed."""
        with failures():
            found = services().entry_history(entry_id)
        if as_json:
            typer.echo(json.dumps(history_json(found), ensure_ascii=False))
        else:
            typer.echo("\n".join(history_lines(found)))

    @kb_app.command("rollback")
    def rollback(entry_id: Optional[str] = typer.Argument(None, help="The entry to roll back (with --to)."),
                 to: Optional[int] = typer.Option(None, "--to", help="The KB version whose content the entry gets back."),
                 kb_version: Optional[int] = typer.Option(None, "--kb-version",
                                                          help="Roll the whole knowledge base back to this version."),
                 reason: str = typer.Option("", "--reason", help="Why: shown in the history."),
                 author: str = typer.Option(DEFAULT_AUTHOR, "--as", help="Who makes the change.")) -> None:
        """Roll an entry (ID --to VERSION) or the whole knowledge base (--kb-version N) back to
        an earlier version. The rollback is a new version; the index follows it."""
        if (entry_id is None) == (kb_version is None) or (entry_id is not None and to is None) \
                or (kb_version is not None and to is not None):
            typer.echo("error: give either ID --to VERSION (one entry) or --kb-version N (the whole knowledge base)",
                       err=True)
            raise typer.Exit(2)
        with failures():
            if entry_id is not None:
                result = services().rollback_entry(entry_id, to, author, reason)
                target = f"{entry_id} to KB version {to}"
            else:
                result = services().rollback_kb(kb_version, author, reason)
                target = f"the knowledge base to KB version {kb_version}"
        if result.version is None:
            typer.echo(f"nothing to roll back: {target} would change nothing")
            return
        typer.echo(f"rolled back {target}: new KB version {result.version}")
        for label, ids in (("restored", result.restored), ("deleted", result.deleted)):
            if ids:
                typer.echo(f"  {label}: {', '.join(ids)}")

    @kb_app.command("versions")
    def versions(as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
                 limit: int = typer.Option(50, min=1, max=500, help="How many, the newest first.")) -> None:
        """The knowledge base's versions, the newest first: when, by whom, what changed and why."""
        with failures():
            found = services().kb_versions(limit)
        if as_json:
            typer.echo(json.dumps([version_json(v) for v in found], ensure_ascii=False))
        elif not found:
            typer.echo("the knowledge base has no version yet: import entries with `chatbot kb import`")
        else:
            rows = [[v.version, _when(v.created_at), v.author or "-", v.summary, v.reason or "-"] for v in found]
            typer.echo("\n".join(text_table(["version", "time", "author", "summary", "reason"], rows, left_columns=5)))
