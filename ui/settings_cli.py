"""`chatbot settings …`: the settings staff change live (`chatbot.live_settings`), from a shell.
Each command calls one service, the same as the console's settings page and
`GET/PUT /api/admin/settings`.

    $ chatbot settings show [--json]
    $ chatbot settings set top_k 3
    $ chatbot settings set suggested_questions_en "Where is my order?" "Can I return a gift?"
    $ chatbot settings reset greeting_en          # back to the CHATBOT_* default

A running server takes a change within a few seconds, without a restart. Exit codes as the rest
of `chatbot`: 2 for an unknown setting or a wrong value (the message says why), 3 when the
database cannot be reached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import typer

from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.live_settings import SettingState
    from chatbot.services import Services

OPERATOR = "cli:" + (os.environ.get("USER") or "operator")  # who a shell change is recorded as


def state_row(state: "SettingState") -> dict:
    stored = state.stored
    return {"key": state.setting.key, "value": state.value, "default": state.default,
            "updated_by": stored and stored.updated_by, "updated_at": stored and stored.updated_at.isoformat()}


def settings_app(services: Callable[[], "Services"],
                 database_failures: Callable[[], AbstractContextManager[None]]) -> typer.Typer:
    """The `settings` command group; `services` and `database_failures` as `ui.sites_cli`'s."""
    app = typer.Typer(help="Settings staff change live: answer targets, top-k, greeting, suggested questions.",
                      no_args_is_help=True)

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import InvalidInput

        with database_failures():
            try:
                yield
            except InvalidInput as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    def change(values: dict[str, Any]) -> None:
        with failures():
            done = services().change_settings(values, by=OPERATOR)
        typer.echo(f"changed: {', '.join(done.changed) or 'nothing (the same value)'}"
                   + ("; the answer band was recalibrated" if done.recalibrated else ""))

    @app.command("show")
    def show(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """Every live setting: the value in force, the default, who changed it when."""
        with failures():
            rows = [state_row(s) for s in services().bot_settings()]
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False))
            return
        table = [[r["key"], json.dumps(r["value"], ensure_ascii=False)[:60],
                  f"{r['updated_by']} {r['updated_at'][:16]}" if r["updated_by"] else "default"] for r in rows]
        typer.echo("\n".join(text_table(["setting", "value", "changed"], table, left_columns=3)))

    @app.command("set")
    def set_value(key: str = typer.Argument(..., help="The setting (see `chatbot settings show`)."),
                  values: list[str] = typer.Argument(..., help="Its value; several for a list of questions.")) -> None:
        """Change a setting (a new answer target recalibrates the band)."""
        change({key: values if key.startswith("suggested_questions_") else " ".join(values)})

    @app.command("reset")
    def reset(key: str = typer.Argument(..., help="The setting to put back to its CHATBOT_* default.")) -> None:
        """Put a setting back to its default."""
        change({key: None})

    return app
