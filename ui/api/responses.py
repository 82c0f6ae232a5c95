"""What the HTTP API and the chat page's API endpoint send back for a `Reply`.

The JSON contract of DESIGN.md ("chatbot ask --json") is defined once, in
`chatbot.messages.reply_to_json`, so that the CLI (which must not import `ui`) and the API share
it; it is re-exported here for the UI's handlers.

    >>> reply_to_json(services.engine.respond(None, "How long does shipping take?"))
    {'answer': '...', 'abstained': False, 'language': 'en', 'sources': [...], ...}
"""

from __future__ import annotations

from chatbot.errors import DatabaseUnavailable
from chatbot.messages import Reply, reply_to_json

__all__ = ["DATABASE_DOWN", "reply_to_json", "sources_to_json"]

# What API clients are told when the database is down (the error's own message is for operators).
DATABASE_DOWN = DatabaseUnavailable.public_message


def sources_to_json(reply: Reply) -> list[dict]:
    """The reply's cited entries as `[{"id", "question", "score"}]`, as in `reply_to_json`."""
    return reply_to_json(reply)["sources"]
