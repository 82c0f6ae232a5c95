"""The generator interface: every backend streams text for a `GenerationRequest`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator

from chatbot.messages import GenerationRequest


class Generator(ABC):
    """A backend that writes the answer. `__init__` stores settings; `warm_up` loads models."""

    name: str = "generator"

    def warm_up(self) -> None:
        """Load whatever the backend needs; safe to call more than once."""

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer in pieces, in order, as they are produced."""

    def generate(self, request: GenerationRequest) -> str:
        """The whole answer at once."""
        return "".join(self.stream(request)).strip()
