"""The extractive generator: the best entry's answer, word for word, in the entry's language."""

from __future__ import annotations

from typing import Iterator

from chatbot.generators.base import Generator
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Prompt


class ExtractiveGenerator(Generator):
    """Answers with the top hit's answer; never invents anything. Needs no model."""

    name = "extractive"

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        if not request.hits:
            return
        yield request.hits[0].entry.answer

    def prompt(self, request: GenerationRequest) -> Prompt:
        """No prompt is sent, so nothing is trimmed: every hit counts as given."""
        return Prompt([], len(request.hits), 0)
