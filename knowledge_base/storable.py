"""The one text boundary: text is made storable here before any database or file sees it.

Two things that Python strings may hold cannot be stored: a lone UTF-16 surrogate (U+D800 to
U+DFFF is half of a pair, not a character, and UTF-8 cannot encode it), and on PostgreSQL the NUL
character. Wherever text enters storage (customer messages and turn traces, every field of a
knowledge-base entry, labels) it passes through `storable`, which replaces each of them with
U+FFFD, the replacement character, the same on SQLite and PostgreSQL. Halves that do form a pair
are joined into their character. Nothing that passed the boundary can fail later: not the
database, not the index snapshot (JSON written as UTF-8), not an export.

    >>> storable("hi \\ud800 there\\x00")
    'hi \\ufffd there\\ufffd'
    >>> storable("\\ud83d\\ude00")          # a pair split in two: joined, nothing replaced
    '😀'
    >>> length_problem("category", "x" * 300, 200)
    'category is 300 characters; the limit is 200'

Lengths are checked against the columns by the owner of each column (`Entry.validate`, the
conversation store) with `length_problem`, so the message names the field and its limit.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with every lone surrogate and NUL replaced by U+FFFD (split pairs joined)."""
    if not _UNSTORABLE.search(text):
        return text  # the common case costs one scan
    if _SURROGATE.search(text):
        # UTF-16 round trip: a pair of halves becomes its character, a lone half U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT)


def replaced_count(text: str) -> int:
    """How many characters `storable` would replace (a joined pair counts as none)."""
    if not _UNSTORABLE.search(text):
        return 0
    return storable(text).count(REPLACEMENT) - text.count(REPLACEMENT)


def storable_value(value: Any) -> Any:
    """A JSON-like value (str, list, dict, numbers, None) with every string in it, keys
    included, made `storable`; other values are returned as they are."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(storable_value(item) for item in value)
    if isinstance(value, dict):
        return {storable_value(key): storable_value(item) for key, item in value.items()}
    return value


def length_problem(field: str, text: str, limit: int) -> str | None:
    """A message naming `field` and its limit when `text` is longer than `limit` characters,
    else None."""
    if len(text) > limit:
        return f"{field} is {len(text)} characters; the limit is {limit}"
    return None
