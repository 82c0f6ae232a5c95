"""PII redaction: what is masked, and what must stay readable for staff."""

from __future__ import annotations

import pytest

from chatbot.conversations.redaction import luhn_valid, redact_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ann.lee+shop@example.co.uk please", "write to [email] please"),
        ("mail me: a@b.io.", "mail me: [email]."),
        ("call +44 20 7946 0958", "call [phone]"),
        ("call (555) 123-4567 today", "call [phone] today"),
        ("us 555.123.4567, intl +14155552671", "us [phone], intl [phone]"),
        ("de +49 (0)30 1234567", "de [phone]"),
        ("fr 01 23 45 67 89", "fr [phone]"),
        ("(+33) 1 23 45 67 89 thanks", "[phone] thanks"),
        ("0044-20-7946-0958", "[phone]"),
        ("mobile 07911123456", "mobile [phone]"),
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("amex 378282246310005", "amex [card]"),
        ("visa 4012888888881881", "visa [card]"),
    ],
)
def test_masks_personal_data(text: str, expected: str) -> None:
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order 12345678?",  # plain digit runs are order or tracking numbers
        "It was delivered on 2024-01-15 10:30 and 15.01.2024.",
        "It costs $1,299.99 for 3 boxes",
        "my router is 192.168.100.200",
        "short local number 555-1234",
        "not a card: 4111111111111112",  # fails Luhn, and too long for a phone
        "How do I reset my password?",
        "",
    ],
)
def test_leaves_other_text_alone(text: str) -> None:
    assert redact_pii(text) == text


def test_several_kinds_in_one_message_and_idempotent() -> None:
    text = "I'm ann@example.com, +44 20 7946 0958, card 4111 1111 1111 1111, order 998877"
    redacted = redact_pii(text)
    assert redacted == "I'm [email], [phone], card [card], order 998877"
    assert redact_pii(redacted) == redacted


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
