"""Payment card numbers: the Luhn checksum and the issuer prefixes that real cards start with."""

from __future__ import annotations

import re

# Issuer ranges by their first digits (ISO/IEC 7812): 3 (Amex, JCB, Diners), 4 (Visa), 5
# (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro) and Mastercard's 2221-2720. Order
# numbers, dates and timestamps that start with 1, 2, 7, 8, 9 and pass Luhn by chance (1 in 10)
# therefore stay readable.
_ISSUER = re.compile(r"[3-6]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)")


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """True for 13 to 19 digits with a card issuer's prefix that pass the Luhn check.

    >>> is_card_number("4111111111111111"), is_card_number("2024112312345678")
    (True, False)
    """
    return 13 <= len(digits) <= 19 and _ISSUER.match(digits) is not None and luhn_valid(digits)
