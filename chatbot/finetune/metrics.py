"""Held-out answer metrics: exact-answer agreement, grounded rate, mean answer length.

    >>> agrees("You can return items within 30 days [1].", "You can return items within 30 days.")
    True
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol, Sequence

from tqdm.auto import tqdm

from chatbot.finetune.dataset import Example
from chatbot.messages import GenerationRequest
from chatbot.grounding import check_grounding

_CITATION = re.compile(r"\[\d{1,2}\]")
_WORD = re.compile(r"\w+")


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


def grounded(answer: str, request: GenerationRequest) -> bool:
    """Whether `answer` passes the serving grounding check (`chatbot.grounding`) against the
    entries `request` showed the model: the same rule that decides what a customer sees."""
    return check_grounding(answer, request.hits, language=request.language).grounded


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
