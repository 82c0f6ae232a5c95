"""The input guard: size limits, clean-up, and screening before a message reaches retrieval.

A message is either cleaned (control characters, markup and odd whitespace removed) or refused
with a reason the customer can act on. Nothing here raises on bad input.

    >>> check_message("  <b>Where</b> is my order?\\x07 ", max_chars=4000).text
    'Where is my order?'
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.DOTALL)
# Phrases that try to re-program the bot rather than ask it something.
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|all|your)\b.{0,20}"
    r"\b(instructions?|rules|prompts?)\b"
    r"|\b(reveal|show|print|repeat)\b.{0,30}\b(system prompt|your instructions|hidden prompt)\b"
    r"|忽略.{0,10}(之前|以上|所有).{0,10}(指令|指示|规则)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class GuardResult:
    """`text` is the cleaned message; `problem` is a machine-readable reason when refused."""

    text: str
    problem: str = ""  # "" | "empty" | "too_long" | "unreadable" | "injection"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _strip_markup(text: str) -> str:
    text = _SCRIPT_OR_STYLE.sub(" ", text)
    text = _TAG.sub(" ", text)
    return html.unescape(text)


def _readable_share(text: str) -> float:
    """Share of characters that are letters, digits, punctuation or spaces (not symbols/noise)."""
    if not text:
        return 0.0
    good = sum(1 for ch in text if unicodedata.category(ch)[0] in "LNPZ")
    return good / len(text)


def check_message(raw: str, max_chars: int) -> GuardResult:
    """Clean `raw` and decide whether it can be answered."""
    if not isinstance(raw, str):
        return GuardResult("", "unreadable", "the message is not text")
    if len(raw) > max_chars:
        # Checked before any clean-up so a huge message costs almost nothing.
        return GuardResult("", "too_long", f"{len(raw)} characters; the limit is {max_chars}")
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _strip_markup(text)
    text = " ".join(text.split())
    if not text:
        return GuardResult("", "empty", "the message is empty")
    if "\ufffd" in text or _readable_share(text) < 0.6:
        return GuardResult(text, "unreadable", "the message looks like binary data or noise")
    if _INJECTION.search(text):
        return GuardResult(text, "injection", "the message asks the bot to change its rules")
    return GuardResult(text)
