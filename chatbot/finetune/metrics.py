"""Held-out answer metrics: exact-answer agreement, grounded rate, mean answer length.

    >>> agrees("You can return items within 30 days [1].", "You can return items within 30 days.")
    True
    >>> numbers_grounded("It takes 4 days.", "[1] Q: ...\\nA: Shipping takes 3-5 days.")
    False
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol, Sequence

from tqdm.auto import tqdm

from chatbot.finetune.dataset import Example
from chatbot.messages import GenerationRequest
from chatbot.prompts import format_entries

_CITATION = re.compile(r"\[\d{1,2}\]")
_WORD = re.compile(r"\w+")
# A number as written in answers: "30", "3-5" (two numbers), "1,299.00", "24.5".
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


class AnswerWriter(Protocol):
    def generate(self, request: GenerationRequest) -> str: ...


def normalise_answer(text: str) -> str:
    """Compatibility-folded, case-folded words without citation marks or punctuation.

    Chinese text keeps its characters (`\\w` matches them); full-width digits become ASCII.
    """
    text = _CITATION.sub(" ", unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(_WORD.findall(text))


def agrees(generated: str, expected: str) -> bool:
    """The generated answer equals or contains the expected one, once both are normalised."""
    want = normalise_answer(expected)
    return bool(want) and f" {want} " in f" {normalise_answer(generated)} "


def numbers_grounded(answer: str, entries_text: str) -> bool:
    """Every number in `answer` also appears in the prompt's entries (`entries_text`).

    A local stand-in for the grounding check of chatbot/grounding.py (written in parallel):
    `grounded_rate` below is where the real check is to be swapped in. Numbers are what a small
    model most often invents (days, prices, percentages) and what hurts most when wrong.
    """
    known = set(_NUMBER.findall(unicodedata.normalize("NFKC", entries_text)))
    said = _CITATION.sub(" ", unicodedata.normalize("NFKC", answer))  # "[1]" is a citation, not a fact
    return all(number in known for number in _NUMBER.findall(said))


def grounded(answer: str, request: GenerationRequest) -> bool:
    """Whether `answer` is grounded in the entries `request` showed the model (see above)."""
    return numbers_grounded(answer, format_entries(request.hits))


def answer_metrics(answers: Sequence[str], examples: Sequence[Example]) -> dict[str, float | int]:
    """Metrics of `answers` (one per example, same order) against the examples' targets."""
    n = len(examples)
    if n == 0:
        return {"n": 0, "exact_answer": None, "grounded_rate": None, "mean_answer_chars": None}
    return {
        "n": n,
        "exact_answer": round(sum(agrees(a, ex.target) for a, ex in zip(answers, examples)) / n, 4),
        "grounded_rate": round(sum(grounded(a, ex.request) for a, ex in zip(answers, examples)) / n, 4),
        "mean_answer_chars": round(sum(len(a) for a in answers) / n, 1),
    }


def generate_answers(generator: AnswerWriter, examples: Sequence[Example], desc: str,
                     progress: bool = False) -> list[str]:
    """Each example's answer from `generator`, as the engine would get it when serving."""
    return [generator.generate(ex.request)
            for ex in tqdm(examples, desc=desc, unit="answer", disable=not progress)]
