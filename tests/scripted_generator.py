"""A generator whose text the test chooses, for tests where exactly known text is the point
(what the grounding check lets through, what the chat page shows). Everything else is real."""

from __future__ import annotations

from collections.abc import Iterator

from chatbot.generators.base import Generator
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Prompt


class ScriptedGenerator(Generator):
    """Streams `text` word by word, whatever it is asked; records the requests it was prompted for."""

    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[GenerationRequest] = []

    def stream(self, prompt: Prompt) -> Iterator[str]:
        self.requests.append(prompt.request)
        words = self.text.split(" ")
        yield from (word if i == 0 else " " + word for i, word in enumerate(words))
