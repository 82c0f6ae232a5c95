"""Held-out answer metrics: exact-answer agreement, grounded rate, mean answer length (overall and
per language), and the held-out answers themselves, generated concurrently where the model batches.

    >>> agrees("You can return items within 30 days [1].", "You can return items within 30 days.")
    True
"""

from __future__ import annotations

import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Protocol, Sequence

from tqdm.auto import tqdm

from chatbot.finetune.dataset import Example
from chatbot.messages import GenerationRequest
from chatbot.stages.grounding import check_grounding

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
    """Whether `answer` passes the serving grounding check (`chatbot.stages.grounding`) against the
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


def metrics_by_language(answers: Sequence[str], examples: Sequence[Example]) -> dict[str, dict[str, float | int]]:
    """`answer_metrics` for each reply language (the engine's detection of each question)."""
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(example.language, []).append(i)
    return {language: answer_metrics([answers[i] for i in rows], [examples[i] for i in rows])
            for language, rows in sorted(groups.items())}


def concurrent_requests(generator: AnswerWriter) -> int:
    """How many requests to keep in flight: the batch size where the generator decodes concurrent
    requests together (a `LocalGenerator` with continuous batching, once loaded), else 1."""
    warm_up = getattr(generator, "warm_up", None)
    if warm_up is not None:
        warm_up()  # whether batching could start is known once the model is loaded
    batching = getattr(generator, "batching", None)
    if not getattr(generator, "batched", False) or batching is None:
        return 1
    return max(1, batching.max_batch_size)


def generate_answers(generator: AnswerWriter, examples: Sequence[Example], desc: str,
                     progress: bool = False) -> list[str]:
    """Each example's answer from `generator`, as the engine would get it when serving, in order.

    Where the generator batches, the requests are submitted together from `concurrent_requests`
    threads, so they are decoded together as concurrent customers' are (one at a time, 161
    held-out answers took a GPU session's whole budget); the answers are the same, greedy.
    """
    workers = min(concurrent_requests(generator), max(1, len(examples)))
    bar = tqdm(total=len(examples), desc=desc, unit="answer", disable=not progress)
    answers: list[str] = [""] * len(examples)
    with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heldout") as pool:
        futures = {pool.submit(generator.generate, ex.request): i for i, ex in enumerate(examples)}
        try:
            for future in as_completed(futures):
                answers[futures[future]] = future.result()
                bar.update()
        except BaseException:
            for future in futures:  # a failure or Ctrl-C: do not start the requests still queued
                future.cancel()
            raise
    return answers
