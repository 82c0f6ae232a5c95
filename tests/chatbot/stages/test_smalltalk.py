"""Small talk, asking for a human and yes/no to the offer of one: recognised in English and
Chinese, and never on a message that asks a real question."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.stages.smalltalk import asks_for_human, conversation_move, offer_answer, small_talk


@pytest.mark.parametrize("text, kind, language", [
    ("hi", "greeting", "en"), ("Hello!", "greeting", "en"), ("hey there", "greeting", "en"),
    ("Good morning :)", "greeting", "en"), ("thanks!", "thanks", "en"), ("Thank you so much", "thanks", "en"),
    ("thanks, bye", "goodbye", "en"), ("Bye", "goodbye", "en"), ("你好", "greeting", "zh"),
    ("您好！", "greeting", "zh"), ("谢谢", "thanks", "zh"), ("谢谢您", "thanks", "zh"), ("再见", "goodbye", "zh"),
    ("ok", "acknowledge", "en"), ("ＨＥＬＬＯ", "greeting", "en"),
])
def test_small_talk_is_recognised_with_its_language(text: str, kind: str, language: str) -> None:
    talk = small_talk(text)
    assert talk is not None and (talk.kind, talk.language) == (kind, language)


@pytest.mark.parametrize("text", [
    "hi, where is my order?", "你好，我的订单在哪里？", "hello, how do I return an item", "Is it ok to return?",
    "What time is it?", "thanks, but my card was charged twice", "",
])
def test_a_question_is_not_small_talk(text: str) -> None:
    assert small_talk(text) is None


@pytest.mark.parametrize("text", ["agent", "human", "talk to a person", "customer service representative",
                                  "转人工", "人工客服", "I want to talk to a human", "Can I speak with someone?",
                                  "live agent please", "connect me with an agent"])
def test_asking_for_a_human(text: str) -> None:
    assert asks_for_human(text)


@pytest.mark.parametrize("text", ["Is this safe for humans?", "what are your customer service hours",
                                  "How do I contact customer service?", "hi"])
def test_not_asking_for_a_human(text: str) -> None:
    assert not asks_for_human(text)


@pytest.mark.parametrize("text, answer", [("yes", "yes"), ("Yes please", "yes"), ("ok", "yes"), ("sure", "yes"),
                                          ("是", "yes"), ("好的", "yes"), ("需要", "yes"), ("no", "no"),
                                          ("不用", "no"), ("不用了，谢谢", "no"), ("yes, where is my order", None)])
def test_yes_and_no_to_the_offer(text: str, answer: str | None) -> None:
    assert offer_answer(text) == answer


def test_yes_hands_off_only_after_an_offer() -> None:
    assert conversation_move("yes please", offered_human=True) == ("handoff", "handoff", "en")
    assert conversation_move("不用", offered_human=True) == ("smalltalk", "declined", "zh")
    assert conversation_move("yes", offered_human=False) == ("smalltalk", "acknowledge", "en")
    assert conversation_move("agent", offered_human=False) == ("handoff", "handoff", "en")
    assert conversation_move("Where is my order?", offered_human=True) is None


QUESTION_WORDS = ["where", "what", "how do", "how can", "when", "why", "which", "can i", "do you", "is there",
                  "哪里", "什么", "怎么", "为什么", "能不能", "多少"]
TOPIC_WORDS = ["order", "refund", "card", "password", "shipping", "订单", "退款", "密码", "快递", "my", "the"]
GREETINGS = ["hi", "hello", "thanks", "good morning", "bye", "你好", "谢谢", "再见", ""]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(GREETINGS), st.sampled_from(QUESTION_WORDS),
       st.lists(st.sampled_from(TOPIC_WORDS), min_size=1, max_size=4), st.sampled_from(["", "?", "？", "!", ","]))
def test_small_talk_never_fires_on_a_question(greeting: str, question: str, topic: list[str], mark: str) -> None:
    text = f"{greeting}, {question} {' '.join(topic)}{mark}"
    assert small_talk(text) is None
