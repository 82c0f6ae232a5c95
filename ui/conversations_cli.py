"""`chatbot conversations …`: the staff side of a hand-off from the command line, until the
console has its screen. Each command calls one service (`chatbot.conversation_services`).

    $ chatbot conversations waiting [--json]            # waiting for a human, the longest first
    $ chatbot conversations reply ID "Hello, Alice here" [--as Alice]   # takes it, too
    $ chatbot conversations take ID [--as Alice]
    $ chatbot conversations release ID                  # the bot answers again

Exit codes as the rest of `chatbot`: 2 for an unknown conversation or a reply that cannot be sent
(empty, too long), 3 when the database cannot be reached.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import typer

from chatbot.evaluation.report import text_table
from ui.conversation_log_cli import add_log_commands

if TYPE_CHECKING:
    from chatbot.conversations.handoff import HandoffState, WaitingConversation
    from chatbot.services import Services

MESSAGE_CHARS = 60  # the last message is cut to this many characters in the table


def _default_staff() -> str:
    """Who is replying when --as is not given: the operating system's user name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor the password database
        return "staff"


def waiting_json(waiting: "list[WaitingConversation]", now: datetime) -> list[dict]:
    """The queue as JSON: one object per conversation, the longest waiting first."""
    return [{"id": w.id, "waiting_since": w.waiting_since.isoformat(),
             "waited_s": round((now - w.waiting_since).total_seconds(), 1), "channel": w.channel,
             "language": w.language, "last_message": w.last_message, "contact_email": w.contact_email}
            for w in waiting]


def format_waiting(waiting: "list[WaitingConversation]", now: datetime) -> str:
    """The queue as a table: id, minutes waited, language, contact email, last message."""
    if not waiting:
        return "no conversation is waiting for a human"
    rows = []
    for item in waiting:
        flat = " ".join(item.last_message.split())
        short = flat if len(flat) <= MESSAGE_CHARS else flat[: MESSAGE_CHARS - 1] + "…"
        rows.append([item.id, f"{(now - item.waiting_since).total_seconds() / 60:.1f}", item.language or "-",
                     item.contact_email or "-", short])
    return "\n".join(text_table(["id", "waited (min)", "language", "contact", "last message"], rows, left_columns=5))


def _state_line(state: "HandoffState") -> str:
    held = f", held by {state.held_by}" if state.held_by else ""
    return f"conversation {state.conversation_id}: {state.state}{held}"


def conversations_app(services: Callable[[], "Services"],
                      database_failures: Callable[[], AbstractContextManager[None]]) -> typer.Typer:
    """The `conversations` command group; `services` builds the application object and
    `database_failures` maps a database that is down to exit 3 (both from `ui.cli`)."""
    app = typer.Typer(help="The conversation log: the hand-off queue, replies, release; search, export, "
                           "privacy deletions.",
                      no_args_is_help=True)

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import InvalidConversation, InvalidInput

        with database_failures():  # a database that is down: exit 3
            try:
                yield
            except (InvalidConversation, InvalidInput) as exc:  # what the caller can change: exit 2
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    @app.command("waiting")
    def waiting(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """Conversations waiting for a human, the longest waiting first."""
        with failures():
            queue = services().waiting_conversations()
        now = datetime.now(timezone.utc)
        typer.echo(json.dumps(waiting_json(queue, now), ensure_ascii=False) if as_json else format_waiting(queue, now))

    @app.command("reply")
    def reply(conversation_id: str = typer.Argument(..., help="The conversation's id."),
              text: str = typer.Argument(..., help="The message to the customer."),
              staff: str = typer.Option(None, "--as", help="Your name, shown to the customer "
                                                           "(default: your user name).")) -> None:
        """Send a message to the customer as a staff member; you hold the conversation from now."""
        name = staff or _default_staff()
        with failures():
            message_id = services().staff_reply(conversation_id, name, text)
        typer.echo(f"message {message_id} sent; conversation {conversation_id}: human, held by {name}")

    @app.command("take")
    def take(conversation_id: str = typer.Argument(..., help="The conversation's id."),
             staff: str = typer.Option(None, "--as", help="Your name (default: your user name).")) -> None:
        """Hold a conversation without replying yet: the bot stays quiet in it."""
        with failures():
            typer.echo(_state_line(services().take_conversation(conversation_id, staff or _default_staff())))

    @app.command("release")
    def release(conversation_id: str = typer.Argument(..., help="The conversation's id.")) -> None:
        """Give the conversation back to the bot: it answers the customer's next message."""
        with failures():
            typer.echo(_state_line(services().release_conversation(conversation_id)))

    add_log_commands(app, services, failures, _default_staff)  # list, export, delete-visitor-data, deletions
    return app
