"""Serve the promoted fine-tuned version of the local model, switching without a restart.

`PromotedVersionGenerator` wraps the configured `LocalGenerator` (the base). Before a request it
looks at the promotion pointer (one `stat`, at most every `REFRESH_SECONDS`, like the retriever's
snapshot check); when another process has promoted or rolled back, the next request loads that
version (or the base) and the model it replaces is released once its in-flight requests end.

A version serves only under the base it was trained from: a version of SmolLM2 promoted while
`CHATBOT_GENERATOR` names another model is ignored (logged), so changing the setting always wins.

    >>> generator = follow_promoted(create_generator("local", models_dir), ModelRegistry(models_dir))
    >>> generator.name  # "local:smollm2", or "local:smollm2@<version id>" once one is promoted
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterator

from chatbot.generators.base import Generator
from chatbot.generators.local import LocalGenerator
from chatbot.messages import GenerationRequest
from chatbot.generators.registry import ModelRegistry, ModelVersionError
from chatbot.stages.prompts import Messages, Prompt

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0


def version_generator(base: LocalGenerator, kind: str, weights: Path) -> LocalGenerator:
    """A `LocalGenerator` serving a version's `weights` ("lora": an adapter merged into `base`'s
    model; "full": a whole model folder) with `base`'s device and token cap. Loads nothing yet.

    The one way a version becomes a generator: `chatbot finetune` measures a new version through
    it, and serving uses it after promotion.
    """
    if kind == "lora":
        return LocalGenerator(base.model, base.models_dir, base.device, base.max_new_tokens, adapter=str(weights),
                              batching=base.batching)
    return LocalGenerator(str(weights), base.models_dir, base.device, base.max_new_tokens, batching=base.batching)


class PromotedVersionGenerator(Generator):
    """The base local generator, or the version promoted for its base model."""

    def __init__(self, base: LocalGenerator, registry: ModelRegistry) -> None:
        self.base = base
        self.registry = registry
        self._active: LocalGenerator = base
        self._version: str | None = None  # the id serving now; None: the base
        self._stamp: tuple[int, int, int] | None | bool = False  # False: never looked
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}@{self._version}" if self._version else self.base.name

    @property
    def version(self) -> str | None:
        """The fine-tuned version serving now, or None for the base model."""
        return self._version

    def refresh(self) -> None:
        """Look at the promotion pointer on the next request (after this process changed it)."""
        self._checked_at = float("-inf")

    def current(self) -> LocalGenerator:
        """The generator to use for the next request, switched if the promotion changed."""
        now = time.monotonic()
        if now - self._checked_at < REFRESH_SECONDS:
            return self._active
        stamp = self.registry.pointer_stamp()
        self._checked_at = now
        if stamp == self._stamp:
            return self._active
        with self._lock:
            if stamp != self._stamp:
                self._switch()
                self._stamp = stamp
            return self._active

    def _switch(self) -> None:
        try:
            version = self.registry.promoted()
            card = self.registry.get(version) if version else None
        except ModelVersionError as error:  # a damaged pointer or a deleted version: keep serving
            log.error("promoted model version not usable, still serving %s: %s", self.name, error)
            return
        if card is not None and card.base != self.base.model:
            log.warning("model version %s was tuned from %r, but the generator is %r: serving the base",
                        card.id, card.base, self.base.model)
            card = None
        wanted = card.id if card else None
        if wanted == self._version:
            return
        # A fresh generator each time: the one it replaces keeps serving requests already under
        # way and is freed with them, and a rollback to the base reloads it rather than keeping
        # two models in memory.
        self._active = (version_generator(self.base, card.kind, self.registry.weights_dir(card)) if card
                        else LocalGenerator(self.base.model, self.base.models_dir, self.base.device,
                                            self.base.max_new_tokens, batching=self.base.batching))
        log.info("generator switched from %s to %s", self.name, f"{self.base.name}@{wanted}" if wanted else self.base.name)
        self._version = wanted

    def warm_up(self) -> None:
        self.current().warm_up()

    def prompt(self, request: GenerationRequest) -> Prompt:
        return self.current().prompt(request)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        # Should a switch fall between `prompt` and `stream`, the token ids still fit: a version
        # serves only under the base it was tuned from, whose tokenizer it keeps.
        yield from self.current().stream(prompt)

    # The prompt is trimmed by the serving model's own tokenizer and window, not the base estimate.
    @property
    def context_window(self) -> int | None:
        return self.current().context_window

    def count_tokens(self, text: str) -> int:
        return self.current().count_tokens(text)

    def count_chat_tokens(self, messages: Messages) -> int:
        return self.current().count_chat_tokens(messages)

    def __getattr__(self, name: str) -> object:
        # Anything else the local generator offers (load timings, batching) comes from the model
        # in service. Only called for names this class lacks; private ones are not forwarded.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.current(), name)


def follow_promoted(generator: Generator, registry: ModelRegistry) -> Generator:
    """`generator` made to follow promotions if it is a local model; others are returned as they are."""
    if isinstance(generator, LocalGenerator):
        return PromotedVersionGenerator(generator, registry)
    return generator
