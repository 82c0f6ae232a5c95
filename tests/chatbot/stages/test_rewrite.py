"""Follow-up detection and rewriting, in English and Chinese."""

from __future__ import annotations

import pytest

from chatbot.messages import ChatMessage
from chatbot.stages.rewrite import follow_up_context, is_follow_up

HISTORY = [ChatMessage("user", "How long does shipping take?"), ChatMessage("assistant", "3-5 days.")]


@pytest.mark.parametrize(("text", "expected"), [
    ("And for express shipping?", True),
    ("what about Canada?", True),
    ("How much does it cost?", True),
    ("那国际快递呢？", True),
    ("加拿大呢", True),
    ("How do I reset my password?", False),
    ("Can I return an item I bought last month?", False),
    ("怎么退货？", False),
])
def test_is_follow_up(text: str, expected: bool) -> None:
    assert is_follow_up(text) is expected


def test_the_context_is_the_last_customer_question() -> None:
    assert follow_up_context("And for express?", HISTORY) == "How long does shipping take?"
    assert follow_up_context("How do I reset my password?", HISTORY) == ""
    assert follow_up_context("And for express?", []) == ""
