"""`chatbot replay`: re-run logged conversations (or a test set) under a candidate knowledge base,
generator, model version or settings, and gate CI on the result (issue 16). One service call,
`Services.replay`, does the work; this module reads the options and prints.

    $ chatbot replay --since 2026-11-01 --labelled --kb new_faq.csv --baseline current \\
          --fail-if 'resolved_rate<0.9' --max-regression 0.01
    $ chatbot replay cases.jsonl --model-version smollm2-20261201-… --json

Exit codes: 0 the gate passed (or none was set), 1 the gate failed, 2 an option, selection,
candidate or test set that cannot work, 3 the database cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from chatbot.services import Services


def _date(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {option} {value!r}: write a date (2026-11-01) or a time (2026-11-01T09:30)", err=True)
        raise typer.Exit(2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def replay_command(services: Callable[[], "Services"],
                   database_failures: Callable[[], AbstractContextManager[None]]) -> Callable[..., None]:
    """The `replay` command; `services` and `database_failures` come from `ui.cli`."""

    def replay(
        test_set: Optional[Path] = typer.Argument(None, help="A test set instead of the log: `chatbot eval` "
                                                  "JSONL, or lines {\"turns\": [{\"query\", \"expected_id\"}, …]}."),
        since: Optional[str] = typer.Option(None, help="Logged turns from this date (UTC)."),
        until: Optional[str] = typer.Option(None, help="Logged turns before this date (UTC)."),
        conversation: list[str] = typer.Option([], "--conversation", help="Only this conversation (repeatable)."),
        language: Optional[str] = typer.Option(None, help="Only turns in this language (e.g. en)."),
        channel: Optional[str] = typer.Option(None, help="Only conversations of this channel (web, api, cli, …)."),
        action: Optional[str] = typer.Option(None, help="Only turns the bot answered so: answer, clarify, "
                                             "abstain, handoff, smalltalk, rejected."),
        feedback: Optional[str] = typer.Option(None, help="Only turns with this feedback: up, down, any, none."),
        labelled: bool = typer.Option(False, "--labelled", help="Only turns staff or customers labelled."),
        limit: Optional[int] = typer.Option(None, min=1, help="Only the latest N selected turns."),
        kb: Optional[Path] = typer.Option(None, "--kb", help="Candidate KB: a file `chatbot kb import` reads."),
        kb_version: Optional[int] = typer.Option(None, "--kb-version", help="Candidate KB: the KB at version N."),
        generator: Optional[str] = typer.Option(None, help="Candidate generator (a CHATBOT_GENERATOR value)."),
        model_version: Optional[str] = typer.Option(None, help="Candidate fine-tuned model version."),
        set_: list[str] = typer.Option([], "--set", help="Candidate setting, key=value (repeatable)."),
        baseline: Optional[str] = typer.Option(None, help="Compare with: 'current' (the bot in service), "
                                               "'kb-version:N', or an earlier replay's report.json."),
        fail_if: list[str] = typer.Option([], "--fail-if", help="Exit 1 if, e.g., 'resolved_rate<0.9' (repeatable)."),
        max_regression: Optional[float] = typer.Option(None, min=0.0, help="Exit 1 if a metric is worse than "
                                                       "the baseline's (or the log's) by more than this."),
        out: Optional[Path] = typer.Option(None, help="Folder for report.html and report.json "
                                           "(default: a new one under CHATBOT_HOME/replays/)."),
        as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of the summary."),
        progress: bool = typer.Option(True, help="Show a progress bar (on standard error)."),
    ) -> None:
        """Replay logged conversations (or a test set) under a candidate, side by side with the log."""
        from chatbot.evaluation.replay_candidate import Candidate, ReplayError, parse_overrides
        from chatbot.evaluation.replay_report import format_summary
        from chatbot.evaluation.replay_source import ReplaySlice
        from chatbot.replay_services import ReplayRequest

        if kb is not None and kb_version is not None:
            typer.echo("error: give --kb or --kb-version, not both", err=True)
            raise typer.Exit(2)
        with database_failures():
            the_services = services()
            try:
                selection = ReplaySlice(_date(since, "--since"), _date(until, "--until"), tuple(conversation),
                                        language, channel, action, feedback, labelled, limit)
                candidate = Candidate(kb, kb_version, generator, model_version, parse_overrides(set_))
                outcome = the_services.replay(ReplayRequest(selection, test_set, candidate, baseline, tuple(fail_if),
                                                            max_regression, out), progress=progress)
            except ReplayError as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
        report = outcome.report
        if as_json:
            typer.echo(json.dumps(report, ensure_ascii=False))
        else:
            typer.echo(format_summary(report))
            typer.echo(f"report: {outcome.html_path}\njson:   {outcome.json_path}")
        if not report["gate"]["passed"]:
            raise typer.Exit(1)

    return replay
