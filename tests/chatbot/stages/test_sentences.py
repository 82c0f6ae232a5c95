"""Cutting answers into sentences, whole and as they stream in (English and Chinese)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.stages.sentences import SentenceCutter, split_sentences

CASES = [
    ("You can return items within 30 days. Refunds take 5 days.",
     ["You can return items within 30 days. ", "Refunds take 5 days."]),
    ("It costs $14.99 and weighs 3.5 kg. Really!", ["It costs $14.99 and weighs 3.5 kg. ", "Really!"]),
    ("Pay by card, e.g. Visa, i.e. any card. Done?", ["Pay by card, e.g. Visa, i.e. any card. ", "Done?"]),
    ("Mr. Smith works in the U.S. office at 9 a.m. daily.", ["Mr. Smith works in the U.S. office at 9 a.m. daily."]),
    ("See https://help.example.com/returns.html for more. Thanks!",
     ["See https://help.example.com/returns.html for more. ", "Thanks!"]),
    ("Visit shop.example.com. Then log in.", ["Visit shop.example.com. ", "Then log in."]),
    ("Express takes 1-2 days [1]. It costs $14.99.[2] Bye", ["Express takes 1-2 days [1]. ", "It costs $14.99.[2] ", "Bye"]),
    ("It ships today. [1] Next", ["It ships today. [1] ", "Next"]),
    ('He said "Go." Then left?! OK...', ['He said "Go." ', "Then left?! ", "OK..."]),
    ("1. Open Orders\n2. Tap Cancel.\nDone", ["1. Open Orders\n", "2. Tap Cancel.\n", "Done"]),
    ("收货后30天内可以退货[1]。退款需要3到5个工作日！好吗？好", ["收货后30天内可以退货[1]。", "退款需要3到5个工作日！", "好吗？", "好"]),
    ("请看「说明。」然后下单。", ["请看「说明。」", "然后下单。"]),
    ("Version 2.0 is out", ["Version 2.0 is out"]),
    ("", []),
]


@pytest.mark.parametrize(("text", "sentences"), CASES)
def test_sentences_are_cut_where_they_end(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_the_cutter_waits_until_a_sentence_cannot_grow() -> None:
    cutter = SentenceCutter()
    assert cutter.feed("It costs $3.") == []  # "3.5" or the end of a sentence: not known yet
    assert cutter.feed("5. ") == []  # a citation "[1]" may still follow
    assert cutter.feed("[") == [] and cutter.feed("1] It") == ["It costs $3.5. [1] "]
    assert cutter.pending == "It" and cutter.feed(" ships") == []
    assert cutter.finish() == ["It ships"] and cutter.finish() == []


# Characters that make cutting hard: end marks, blanks, brackets, digits, quotes, letters of
# abbreviations, Chinese, and a surrogate (the cutter must never split or drop anything).
ALPHABET = st.sampled_from(list("ab eEgiUS.!?。！？\n\t[]1,2\"”」)…/:ä好") + ["e.g.", " [1]", "3.5", "\ud800"])
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_the_sentences_join_back_to_the_text(text: str) -> None:
    sentences = split_sentences(text)
    assert "".join(sentences) == text and all(sentences)


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.lists(st.integers(min_value=0, max_value=40), max_size=10))
def test_streamed_text_is_cut_as_the_whole_text(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    cutter = SentenceCutter()
    streamed = [s for a, b in zip(bounds, bounds[1:]) for s in cutter.feed(text[a:b])]
    assert streamed + cutter.finish() == split_sentences(text)
