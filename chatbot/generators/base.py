"""The generator interface: a backend builds the prompt for a `GenerationRequest`, then streams
the answer to that prompt.

    >>> prompt = generator.prompt(request)  # once per turn: rendered, trimmed, counted (tokenised)
    >>> answer = "".join(generator.stream(prompt))

Backends that know their tokenizer override `count_chat_tokens` and `context_window`, so that
prompts are trimmed by real token counts; the defaults estimate (`chatbot.stages.prompts.
estimate_chat_tokens`, the one estimate of the code base).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Iterator

from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Messages, Prompt, build_prompt, estimate_chat_tokens, estimate_tokens

# The window assumed for a model that does not say (a remote server): most serve at least this.
DEFAULT_CONTEXT_WINDOW = 4096


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
    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Yield the answer to `prompt` (this generator's `prompt(request)`) in pieces, in order, as
        they are produced, without building the prompt again; `GeneratorError` on failure."""

    def generate(self, request: GenerationRequest) -> str:
        """The whole answer to `request` at once: its prompt built once, then streamed."""
        return "".join(self.stream(self.prompt(request))).strip()

    @property
    def context_window(self) -> int | None:
        """Tokens the model reads and writes per request (prompt + answer); None if unknown."""
        return None

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for this model (an estimate unless the backend overrides it)."""
        return estimate_tokens(text)

    def count_chat_tokens(self, messages: Messages) -> int:
        """Tokens of a whole chat as the model reads it, chat template included."""
        return estimate_chat_tokens(messages)

    def prompt_budget(self, request: GenerationRequest) -> int:
        """Tokens the prompt may use: the context window less the answer's `max_new_tokens`.

        The window is `request.context_window` (the `context_window` setting) when given, never
        more than the model's own; else the model's own, else `DEFAULT_CONTEXT_WINDOW`.
        """
        known = self.context_window
        window = request.context_window or known or DEFAULT_CONTEXT_WINDOW
        return (min(window, known) if known else window) - request.max_new_tokens

    def prompt(self, request: GenerationRequest) -> Prompt:
        """The chat this backend sends for `request`, trimmed to `prompt_budget` by its own count.

        Raises `chatbot.stages.prompts.PromptBudgetError` when the rules and the question do not fit.
        """
        return build_prompt(request, max_tokens=self.prompt_budget(request), count_tokens=self.count_chat_tokens)


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
