"""The one rule for conversation ids: the server issues them, unguessable; clients only hand back
ids they were given.

    >>> cid = new_conversation_id()          # '3f2a…' (32 hex characters, 122 random bits)
    >>> is_conversation_id(cid), is_conversation_id("1")
    (True, False)
    >>> check_conversation_id("1")           # raises InvalidConversation, saying what to do

A uuid4 comes from `os.urandom`, so an id cannot be guessed from another; 32 lowercase hex
characters fit the String(64) column and any URL, header or cookie unescaped. Every id issued
before this rule was one as well (`uuid4().hex`), so stored conversations keep their ids.
"""

from __future__ import annotations

import re
import uuid

from chatbot.errors import InvalidConversation

_ISSUED_FORM = re.compile(r"[0-9a-f]{32}")
START_A_NEW_ONE = ("Start a new conversation by leaving the conversation id out; "
                   "the answer carries the id to send with the next message.")


def new_conversation_id() -> str:
    """A fresh, unguessable conversation id (uuid4 as 32 hex characters)."""
    return uuid.uuid4().hex


def is_conversation_id(value: object) -> bool:
    """Whether `value` has the form of an id the server issues (it may still be unknown)."""
    return isinstance(value, str) and _ISSUED_FORM.fullmatch(value) is not None


def malformed_message(value: object) -> str:
    """What is wrong with an id that `is_conversation_id` refuses, and what to do instead."""
    shown = value[:80] if isinstance(value, str) else value
    return f"{shown!r} is not a conversation id this server issued. {START_A_NEW_ONE}"


def unknown_message(conversation_id: str) -> str:
    """What to say about a well-formed id that names no stored conversation."""
    return f"No conversation has the id {conversation_id!r}. {START_A_NEW_ONE}"


def check_conversation_id(value: object) -> str:
    """`value` if it has the issued form; else `InvalidConversation` saying what to do."""
    if not is_conversation_id(value):
        raise InvalidConversation(malformed_message(value))
    return value  # type: ignore[return-value]  # is_conversation_id checked it is a str
