"""A generator whose text the test chooses, for tests where exactly known text is the point
(what the grounding check lets through, what the chat page shows). Everything else is real."""

from __future__ import annotations

from collections.abc import Iterator

from chatbot.generators.base import Generator
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Prompt


class ScriptedFailure(RuntimeError):
    """What a failing `ScriptedGenerator` raises: a bug, not a `GeneratorError` the engine expects."""


class ScriptedGenerator(Generator):
    """Streams `text` word by word, whatever it is asked; records the requests it was prompted for.
    With `fail_after=n` it raises `ScriptedFailure` after its first n words (a bug in a backend)."""

    name = "scripted"

    def __init__(self, text: str, fail_after: int | None = None) -> None:
        self.text = text
        self.fail_after = fail_after
        self.requests: list[GenerationRequest] = []
        self.words_given = 0  # of the last stream: how far the consumer read before it stopped

    def stream(self, prompt: Prompt) -> Iterator[str]:
        self.requests.append(prompt.request)
        self.words_given = 0
        words = self.text.split(" ")
        for i, word in enumerate(words):
            if i == self.fail_after:
                raise self.failure(f"scripted failure after {i} words")
            self.words_given += 1
            yield word if i == 0 else " " + word

    def failure(self, message: str) -> Exception:
        """What `fail_after` raises; a subclass may raise a backend's expected error instead."""
        return ScriptedFailure(message)
