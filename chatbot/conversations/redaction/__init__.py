"""Mask personal data in customer text before it is stored.

    >>> redact_pii("I'm ann@example.com, +44 20 7946 0958, card 4111 1111 1111 1111")
    "I'm [email], [phone], card [card]"
    >>> redact_pii("我的手机号是13812345678，订单号 2024112312345")
    '我的手机号是[phone]，订单号 2024112312345'

Placeholders: `[email]`, `[iban]`, `[card]`, `[phone]`. Conservative about numbers, so that staff
can still read order numbers, dates, prices, tracking numbers and versions: a card needs an
issuer prefix and the Luhn check (cards.py), an IBAN its country's length and mod-97 check digits
(ibans.py), a phone number libphonenumber's approval (phones.py), and a number labelled as an
order, tracking number or price is left alone (numbers.py). bench/bench_redaction.py measures
recall and false positives on tests/chatbot/conversations/data/pii_cases.jsonl.
"""

from __future__ import annotations

import re

from chatbot.conversations.redaction.cards import is_card_number, luhn_valid
from chatbot.conversations.redaction.ibans import iban_valid, mask_ibans
from chatbot.conversations.redaction.numbers import mask_numbers
from chatbot.conversations.redaction.phones import is_phone_number

__all__ = ["iban_valid", "is_card_number", "is_phone_number", "luhn_valid", "redact_pii"]

# ASCII local part and domain labels: `\w` would also take the Chinese words around an address
# written without spaces (`邮箱是ann@example.com谢谢`).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])"
)

_WORTH_A_LOOK = re.compile(r"[\d@]")


def redact_pii(text: str) -> str:
    """`text` with e-mail addresses, IBANs, card and phone numbers replaced by placeholders."""
    if _WORTH_A_LOOK.search(text) is None:  # most turns: no digit, no address
        return text
    text = _EMAIL.sub("[email]", text)
    text = mask_ibans(text)  # before numbers: an IBAN's digit tail could pass for a phone or card
    return mask_numbers(text)
