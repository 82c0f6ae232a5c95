"""The generator interface: every backend streams text for a `GenerationRequest`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Iterator

from chatbot.messages import GenerationRequest


class GeneratorError(RuntimeError):
    """The backend could not write the answer (its server is down, refused, or timed out).

    The message says what failed and where, never a credential; the engine answers with the best
    entry instead and records the message as the reason.
    """


class Generator(ABC):
    """A backend that writes the answer. `__init__` stores settings; `warm_up` loads models."""

    name: str = "generator"

    def warm_up(self) -> None:
        """Load whatever the backend needs; safe to call more than once."""

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer in pieces, in order, as they are produced; `GeneratorError` on failure."""

    def generate(self, request: GenerationRequest) -> str:
        """The whole answer at once."""
        return "".join(self.stream(request)).strip()


def stripped_pieces(pieces: Iterable[str], first_line: bool = False) -> Iterator[str]:
    """Re-cut streamed text so that the pieces join to the whole text stripped, or with
    `first_line` to its first line (the stream ends at the first newline after some text).

    Leading blanks are dropped and trailing ones held back until more text follows them, so
    that what a client sees streamed is exactly the answer the engine logs.
    """
    pending = ""
    started = False
    for piece in pieces:
        if not started:
            piece = piece.lstrip()
            if not piece:
                continue
            started = True
        text = pending + piece
        if first_line:
            head, newline, _ = text.partition("\n")
            if newline:
                if head.rstrip():
                    yield head.rstrip()
                return
        kept = text.rstrip()
        if kept:
            yield kept
        pending = text[len(kept):]
