"""Mask personal data in customer text before it is stored.

    >>> redact_pii("I'm ann@example.com, +44 20 7946 0958, card 4111 1111 1111 1111")
    "I'm [email], [phone], card [card]"

Deliberately conservative about numbers: order numbers, dates, prices and plain digit runs stay
readable for staff; a phone number needs 8 to 15 digits written with separators, a leading `+`,
or a national trunk `0`; a card number needs 13 to 19 digits that pass the Luhn check.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# Digits with single spaces or hyphens between them, as cards are written (4-4-4-4, 4-6-5).
_CARD = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
# Shapes that look like phone numbers but are not: dates and IPv4 addresses.
_NOT_PHONE = r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}"
# Scanning left to right, a date is consumed (and kept) before it can start a phone candidate:
# a run of digits, spaces, dots, hyphens, slashes and brackets that starts and ends on a digit.
_PHONE = re.compile(
    rf"(?P<keep>(?<![\w+])(?:{_NOT_PHONE})(?!\d))"
    r"|(?P<phone>(?<![\w+])(?:\+|\(\+?)?\d[\d \t().\-/]*\d\)?(?!\w))"
)


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()


def _looks_like_phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 8 <= len(digits) <= 15 or re.fullmatch(_NOT_PHONE, candidate.strip("()")):
        return False
    has_separator = re.search(r"\d[ \t().\-/]+\d", candidate) is not None
    return candidate.startswith(("+", "(+")) or has_separator or (digits[0] == "0" and len(digits) >= 10)


def _mask_phone(match: re.Match[str]) -> str:
    candidate = match.group("phone")
    return "[phone]" if candidate and _looks_like_phone(candidate) else match.group()


def redact_pii(text: str) -> str:
    """`text` with e-mail addresses, phone numbers and card numbers replaced by placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = _CARD.sub(_mask_card, text)  # before phones: a card number also looks like one
    return _PHONE.sub(_mask_phone, text)
