"""`chatbot user …`: staff accounts of the console (DESIGN.md "Contracts"). Each command calls
one service (`chatbot.staff.services`).

    $ chatbot user add alice --role admin                          # asks for the password twice
    $ printf '%s\\n' "$PASSWORD" | chatbot user add bob --role editor --password-stdin
    $ chatbot user list [--json]
    $ chatbot user remove bob

The password is never an argument (it would show in `ps` and the shell's history) and never
printed. Exit codes as the rest of `chatbot`: 2 for what the caller can change (a taken name, a
bad role or password, an unknown name, the last admin), 3 when the database cannot be reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import typer

from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.services import Services


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: the newline that `echo` or `printf '%s\n'` adds is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def users_app(services: Callable[[], "Services"],
              database_failures: Callable[[], AbstractContextManager[None]]) -> typer.Typer:
    """The `user` command group; `services` builds the application object and
    `database_failures` maps a database that is down to exit 3 (both from `ui.cli`)."""
    app = typer.Typer(help="Staff accounts of the console at /admin: add, list, remove.", no_args_is_help=True)

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import Conflict, InvalidInput, UnknownItem

        with database_failures():  # a database that is down: exit 3
            try:
                yield
            except (Conflict, InvalidInput, UnknownItem) as exc:  # what the caller can change: exit 2
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    @app.command("add")
    def add(name: str = typer.Argument(..., help="The account's name (letters, digits, _ . @ -)."),
            role: str = typer.Option(..., "--role", help="admin | editor | viewer"),
            password_stdin: bool = typer.Option(False, "--password-stdin",
                                                help="Read the password from the first line of standard input.")) -> None:
        """Create a staff account; asks for its password (at least 10 characters)."""
        password = _read_password(password_stdin)
        with failures():
            user = services().add_staff_user(name, role, password)
        typer.echo(f"staff account {user.name} added ({user.role}); sign in at /admin")

    @app.command("list")
    def list_users(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """Every staff account: name, role, when it was added."""
        with failures():
            users = services().staff_users()
        if as_json:
            typer.echo(json.dumps([{"name": u.name, "role": u.role, "created_at": u.created_at.isoformat()}
                                   for u in users], ensure_ascii=False))
        elif not users:
            typer.echo("no staff account yet: chatbot user add NAME --role admin")
        else:
            rows = [[u.name, u.role, u.created_at.strftime("%Y-%m-%d %H:%M")] for u in users]
            typer.echo("\n".join(text_table(["name", "role", "added"], rows, left_columns=3)))

    @app.command("remove")
    def remove(name: str = typer.Argument(..., help="The account's name (see `chatbot user list`).")) -> None:
        """Remove a staff account and sign it out everywhere (the last admin cannot be removed)."""
        with failures():
            user = services().remove_staff_user(name)
        typer.echo(f"staff account {user.name} removed")

    return app
