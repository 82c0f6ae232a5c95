"""The extractive generator: the best entry's answer, word for word, in the entry's language."""

from __future__ import annotations

from typing import Iterator

from chatbot.generators.base import Generator
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Prompt


class ExtractiveGenerator(Generator):
    """Answers with the top hit's answer; never invents anything. Needs no model."""

    name = "extractive"

    def prompt(self, request: GenerationRequest) -> Prompt:
        """No prompt is sent, so nothing is trimmed: every hit counts as given."""
        return Prompt(request, [], len(request.hits), 0)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        if not prompt.request.hits:
            return
        yield prompt.request.hits[0].entry.answer
