"""Visitor identity: who may read and continue a conversation (DESIGN.md "Conversations with
people in them").

The server issues a visitor token (random, unguessable) and binds each conversation the visitor
starts to it; only a hash of the token is stored, so a copy of the database does not hand out
anyone's conversations. Whoever presents the token may read and continue its conversations; a
conversation with another or no token is answered like an unknown id (its existence is not
revealed).

    >>> token = new_visitor_token()                 # 43 URL-safe characters, 256 random bits
    >>> bindings = VisitorBindings(engine)
    >>> bindings.check(cid, token)                  # cid, or InvalidConversation as if unknown
    >>> bindings.check(cid, None, allow_unbound=True)   # /v1: a conversation bound to none is
    ...                                                  # continued by its (unguessable) id
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.ids import check_conversation_id, unknown_message
from chatbot.conversations.tables import ConversationRow
from chatbot.errors import InvalidConversation, InvalidInput

# 32-128 URL-safe characters: a server-issued token is 43; a server-side client may choose its own,
# and 32 (a uuid4 in hex) is the least that cannot be guessed.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
TOKEN_RULE = "32-128 of A-Z a-z 0-9 _ - (e.g. the token the server set in the chatbot_visitor cookie)"


def new_visitor_token() -> str:
    """A fresh visitor token: 32 random bytes from the OS, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def is_visitor_token(value: object) -> bool:
    """Whether `value` has the form of a visitor token."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def check_visitor_token(value: object) -> str:
    """`value` if it is a well-formed token, else `InvalidInput` saying what one looks like."""
    if not is_visitor_token(value):
        raise InvalidInput(f"The visitor token is not valid: send {TOKEN_RULE}.")
    return value  # type: ignore[return-value]  # is_visitor_token checked it is a str


def visitor_hash(token: str) -> str:
    """What the conversation row stores of a token: its SHA-256 in hex. The token has 256 random
    bits (or the client's own 32+ characters), so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class VisitorBindings:
    """Reads which visitor a conversation is bound to; the binding itself is written with the
    conversation's first turn (`ConversationStore.log_turn(..., visitor_hash=...)`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def _bound_hash(self, conversation_id: str) -> tuple[bool, str | None]:
        with database_errors(self._engine), Session(self._engine) as session:
            row = session.execute(select(ConversationRow.visitor_hash)
                                  .where(ConversationRow.id == conversation_id)).first()
        return (False, None) if row is None else (True, row[0])

    @retry_when_busy
    def latest(self, token: str) -> str | None:
        """The id of the conversation the holder of `token` was last active in, or None."""
        if not is_visitor_token(token):
            return None
        with database_errors(self._engine), Session(self._engine) as session:
            return session.scalar(select(ConversationRow.id).where(ConversationRow.visitor_hash == visitor_hash(token))
                                  .order_by(ConversationRow.updated_at.desc()).limit(1))

    @retry_when_busy
    def rebind(self, conversation_id: str, bound_hash: str) -> None:
        """Bind the conversation to the visitor of `bound_hash` instead. Only for the retry of the
        turn that started it, whose answer (and cookie) was lost: the retry's client proves it is
        the one that sent that turn by its turn key (`ChatEngine.logged_turn`)."""
        with transaction(self._engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is not None:
                row.visitor_hash = bound_hash

    def check(self, conversation_id: str, token: str | None, allow_unbound: bool = False) -> str:
        """`conversation_id` if the holder of `token` may read and continue it: it is bound to
        that token, or (with `allow_unbound`) to none. Otherwise `InvalidConversation` with the
        very message of an unknown id, so that a stranger learns nothing of its existence."""
        check_conversation_id(conversation_id)
        found, bound = self._bound_hash(conversation_id)
        if found:
            if bound is None and allow_unbound:
                return conversation_id
            # compare_digest: the time taken says nothing of how much of the hash matched.
            if bound is not None and is_visitor_token(token) and hmac.compare_digest(bound, visitor_hash(token)):
                return conversation_id
        raise InvalidConversation(unknown_message(conversation_id))
