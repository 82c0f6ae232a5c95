"""PII redaction: what is masked, and what must stay readable for staff."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.conversations.redaction import iban_valid, is_card_number, is_phone_number, luhn_valid, redact_pii

CASES = Path(__file__).parent / "data" / "pii_cases.jsonl"
KINDS = {"phone", "card", "email", "iban", "none"}
# Thresholds set below what the labelled set measures (bench/bench_redaction.py): recall 1.00 and
# no false positive on all 402 lines after tuning; lines written after the rules, before their
# fixes, measured recall 0.98 and 1.00, false positives 0.05 and 0.023.
MIN_RECALL, MAX_FALSE_POSITIVES = 0.97, 0.03


def load_cases() -> list[dict[str, str]]:
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_labelled_set_is_well_formed() -> None:
    cases = load_cases()
    assert len(cases) >= 200
    languages = Counter(case["lang"] for case in cases)
    assert set(languages) == {"en", "zh"} and min(languages.values()) >= 0.4 * len(cases)
    assert {case["kind"] for case in cases} == KINDS
    for case in cases:
        pii = case["kind"] != "none"
        assert (case["expected"] != case["text"]) == pii, case
        assert not pii or f"[{case['kind']}]" in case["expected"], case


@pytest.mark.parametrize("lang", ["en", "zh", None])
def test_labelled_set_recall_and_false_positives(lang: str | None) -> None:
    cases = [case for case in load_cases() if lang in (None, case["lang"])]
    with_pii = [case for case in cases if case["kind"] != "none"]
    look_alikes = [case for case in cases if case["kind"] == "none"]
    missed = [case["text"] for case in with_pii if redact_pii(case["text"]) != case["expected"]]
    changed = [case["text"] for case in look_alikes if redact_pii(case["text"]) != case["text"]]
    assert 1 - len(missed) / len(with_pii) >= MIN_RECALL, missed
    assert len(changed) / len(look_alikes) <= MAX_FALSE_POSITIVES, changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # what the regex-only redaction stored in full
        ("13812345678", "[phone]"),
        ("4155550132", "[phone]"),
        ("card 4111.1111.1111.1111", "card [card]"),
        ("GB82 WEST 1234 5698 7654 32", "[iban]"),
        ("DE89370400440532013000", "[iban]"),
        # their usual variants
        ("+86 138 1234 5678", "[phone]"),
        ("138-1234-5678", "[phone]"),
        ("(415) 555-0132", "[phone]"),
        ("415.555.0132", "[phone]"),
        ("+1 415 555 0132", "[phone]"),
        ("gb82 west 1234 5698 7654 32", "[iban]"),
        ("iban de89 3704 0044 0532 0130 00.", "iban [iban]."),
        ("我的手机号是13812345678，谢谢", "我的手机号是[phone]，谢谢"),
        ("座机010-88886666，手机１３８１２３４５６７８", "座机[phone]，手机[phone]"),
        ("我的IBAN是DE89370400440532013000谢谢", "我的IBAN是[iban]谢谢"),
        ("卡号6222021234567890128，邮箱zhangsan@example.com谢谢", "卡号[card]，邮箱[email]谢谢"),
        ("Hi, it's Ann (415 555 0132)", "Hi, it's Ann ([phone])"),
        ("电话18612345678/13912345678", "电话[phone]/[phone]"),
        ("Phone #: 415-555-0132, cell# 4155550132", "Phone #: [phone], cell# [phone]"),
        ("delivered 2024-11-23, call 415-555-0132", "delivered 2024-11-23, call [phone]"),
        ("card 4111 1111 1111 1111 2024", "card [card] 2024"),
        # kept from the first version's tests
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
        "Where is my order #100234?",
        "#4155550132 is the order I mean",
        "订单号 2024112312345",
        "order 8812345678",  # not a valid US number
        "order 4155550132",  # a valid one, but labelled as an order
        "订单号：13800138000怎么还没到",  # a valid Chinese mobile, labelled as an order
        "Delivered 2024-11-23 at 10:30, or was it 11/23/2024 3:45 PM?",
        "2024年11月23日下午3点到货，14:05:33签收",
        "价格是¥1,299.00，我付了$1299",
        "Total 1,299,000 VND, refund ¥4,111.11",
        "tracking 9400 1000 0000 0000 0000 00 and 1Z999AA10123456784",
        "tracking: 1Z 999 AA1 01 2345 6784",
        "运单号SF1234567890123，邮编100080",
        "My zip code is 94103-1234, postcode SW1A 1AA",
        "I need 12 pieces, 3 boxes of 24; I counted 1 2 3 4 5 6 7 8 9 10",
        "App version 2.3.14, build 2024.11.1234, ISBN 978-0-306-40615-7",
        "my router is 192.168.100.200, IPv6 2001:db8::ff00:42:8329",
        "IMEI 356938035643809",  # passes Luhn like a card
        "not a card: 4111111111111112",  # fails Luhn
        "淘宝订单号3566002020360505123",
        "short local number 555-1234",
        "How do I reset my password?",
        "",
    ],
)
def test_leaves_look_alikes_alone(text: str) -> None:
    assert redact_pii(text) == text


def test_several_kinds_in_one_message_and_idempotent() -> None:
    text = "I'm ann@example.com, +44 20 7946 0958, card 4111 1111 1111 1111, IBAN DE89370400440532013000, order 998877"
    redacted = redact_pii(text)
    assert redacted == "I'm [email], [phone], card [card], IBAN [iban], order 998877"
    assert redact_pii(redacted) == redacted


def test_checks() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert is_card_number("4111111111111111") and not is_card_number("1111111111111117")  # no issuer 1
    assert iban_valid("GB82WEST12345698765432") and iban_valid("gb82 west 1234 5698 7654 32")
    assert not iban_valid("GB82WEST12345698765433")  # check digits
    assert not iban_valid("GB82WEST123456987654")  # GB's length is 22
    assert is_phone_number("+86 138 0013 8000") and is_phone_number("13800138000")
    assert not is_phone_number("8812345678") and not is_phone_number("4155550132 1")


# Text built from the pieces the redaction looks at, so that the number and address paths run.
_PIECES = st.sampled_from(
    ["1", "4", "0", "86", "415", "555", "0132", "138", "0013", "8000", "4111", "1111", " ", "-", ".", "/",
     "(", ")", "+", "@", "a", "Z", "example", ".com", "GB82", "WEST", "DE89", "iban", "IBAN", "订单", "号",
     "电话", "，", "¥", "#", "\u3000", "１", "（", "）", "\x00", "\ud800"]
)  # fmt: skip
_TEXTS = st.one_of(st.text(), st.lists(_PIECES, max_size=40).map("".join))


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_never_raises_and_is_idempotent(text: str) -> None:
    redacted = redact_pii(text)
    assert isinstance(redacted, str)
    assert redact_pii(redacted) == redacted
