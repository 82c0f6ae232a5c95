"""The one rule for conversation ids: the server issues them, unguessable; clients only hand back
ids they were given.

    >>> cid = new_conversation_id()          # '3f2a…' (32 hex characters, 122 random bits)
    >>> is_conversation_id(cid), is_conversation_id("1"), is_conversation_id("not an id!")
    (True, True, False)
    >>> check_conversation_id("not an id!")  # raises InvalidConversation, saying what to do

A uuid4 comes from `os.urandom`, so an id cannot be guessed from another; 32 lowercase hex
characters fit the String(64) column and any URL, header or cookie unescaped. An id is
well-formed when it has the form of a stored one (1-64 URL-safe characters, as ids were before
the server issued them all); whether it was issued, the store alone knows (a well-formed id it
does not hold is refused as unknown, never adopted).
"""

from __future__ import annotations

import re
import uuid

from chatbot.errors import InvalidConversation, InvalidInput

_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A turn key is chosen by the client, so it must be long enough not to be guessed: whoever sends
# a stored key gets that turn's answer (and, for a first turn, its conversation id).
_TURN_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
START_A_NEW_ONE = ("Start a new conversation by leaving the conversation id out; "
                   "the answer carries the id to send with the next message.")


def new_conversation_id() -> str:
    """A fresh, unguessable conversation id (uuid4 as 32 hex characters)."""
    return uuid.uuid4().hex


def is_conversation_id(value: object) -> bool:
    """Whether `value` has the form of a conversation id (it may still be unknown)."""
    return isinstance(value, str) and _WELL_FORMED.fullmatch(value) is not None


def malformed_message(value: object) -> str:
    """What is wrong with an id that `is_conversation_id` refuses, and what to do instead."""
    shown = value[:80] if isinstance(value, str) else value
    return f"{shown!r} is not a conversation id (1-64 of A-Z a-z 0-9 _ -). {START_A_NEW_ONE}"


def unknown_message(conversation_id: str) -> str:
    """What to say about a well-formed id that names no stored conversation."""
    return f"No conversation has the id {conversation_id!r}. {START_A_NEW_ONE}"


def check_turn_key(value: object) -> str:
    """`value` if it is a well-formed turn key (16-64 of A-Z a-z 0-9 _ -, e.g. a uuid4's hex);
    else `InvalidInput` saying so. The client sends the same key with every attempt of one turn
    (the `Idempotency-Key` header) and a new one for each new turn."""
    if not isinstance(value, str) or _TURN_KEY.fullmatch(value) is None:
        shown = value[:80] if isinstance(value, str) else value
        raise InvalidInput(f"{shown!r} is not a turn key: send 16-64 of A-Z a-z 0-9 _ - "
                           "(e.g. a random uuid4 in hex), the same for every retry of one message.")
    return value


def check_conversation_id(value: object) -> str:
    """`value` if it is well-formed; else `InvalidConversation` saying what to do."""
    if not is_conversation_id(value):
        raise InvalidConversation(malformed_message(value))
    return value  # type: ignore[return-value]  # is_conversation_id checked it is a str
