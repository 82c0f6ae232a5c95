"""A replay's candidate: the engine as it would be with another knowledge base, generator or model
version, or other settings, built beside the one in service and writing nothing of its own.

    >>> candidate = Candidate(kb_file=Path("new_faq.csv"), overrides=(("answer_threshold", "0.6"),))
    >>> with candidate_engine(services, candidate) as engine:
    ...     engine.respond(None, "How long does shipping take?", history=[])

A candidate with another knowledge base (or embedding model) gets its own index, built from its
entries in a temporary folder under `CHATBOT_HOME/replays/` (deleted afterwards), so the index in
service is never touched; its answer threshold is calibrated on today's labels, as a rebuild in
service would be. Otherwise the candidate reads the snapshot in service (reading changes nothing),
so that a replay of today's bot reproduces today's decisions. Its conversation store is
`ReplayLog`, which keeps nothing: the production log cannot change. Queries are embedded in one
batch before the turns run (`QueryCache`): one at a time costs several times more per query.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from chatbot.engine import ChatEngine, grounding_checker
from chatbot.errors import InvalidInput
from chatbot.generators.base import Generator
from chatbot.generators.factory import create_generator
from chatbot.generators.local import LocalGenerator
from chatbot.generators.promoted import version_generator
from chatbot.generators.registry import ModelRegistry, ModelVersionError
from chatbot.messages import Reply
from chatbot.settings import Settings
from knowledge_base.embedding.embedder import Embedder, choose_embedding_model
from knowledge_base.entries import Entry
from knowledge_base.importers.base import ImportFileError
from knowledge_base.importers.readers import read_file
from knowledge_base.index.writer import IndexStore
from knowledge_base.retrieval.retriever import Retriever

if TYPE_CHECKING:
    from knowledge_base.repository import KnowledgeBaseRepository
    from knowledge_base.retrieval.calibration import CalibrationInputs

# Settings a candidate may not change: where the product's data lives.
FIXED_SETTINGS = ("home", "database_url")


class Services(Protocol):
    """What a replay needs of `chatbot.services.Services` (which imports this package, so it is
    named here, not imported)."""

    settings: Settings
    knowledge_base: "KnowledgeBaseRepository"
    generator: Generator
    index_store: IndexStore
    embedders: Any  # chatbot.services.EmbedderPool

    def calibration_inputs(self, model: str) -> "CalibrationInputs": ...

    def _embedding_model(self, entries: list[Entry]) -> str: ...


class ReplayError(InvalidInput, ValueError):
    """A candidate or a selection that cannot be replayed; the message says why and what to do
    (an `InvalidInput`: the front doors answer it as the caller's to fix)."""


@dataclass(frozen=True)
class Candidate:
    """What differs from the bot in service; every field left empty keeps the service's own."""

    kb_file: Path | None = None  # a KB file (any format `chatbot kb import` reads)
    kb_version: int | None = None  # the whole KB as it was at that version
    generator: str | None = None  # a `generator` setting value ("extractive", a model folder, ...)
    model_version: str | None = None  # a fine-tuned version id (`chatbot model list`)
    overrides: tuple[tuple[str, str], ...] = ()  # settings, as `--set key=value`

    def describe(self) -> dict:
        """The candidate as JSON, for the report (and for `--require-replay`'s check)."""
        return {"kb_file": str(self.kb_file) if self.kb_file else None, "kb_version": self.kb_version,
                "generator": self.generator, "model_version": self.model_version,
                "settings": dict(self.overrides)}

    @property
    def label(self) -> str:
        """A short name: what changed, or "in service"."""
        parts = [f"KB {self.kb_file.name}" if self.kb_file else "", f"KB v{self.kb_version}" if self.kb_version else "",
                 self.generator or "", self.model_version or "", *(f"{k}={v}" for k, v in self.overrides)]
        return ", ".join(p for p in parts if p) or "in service"


def parse_overrides(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """`["answer_threshold=0.6", ...]` as pairs; `ReplayError` for one without `=`."""
    parsed = []
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ReplayError(f"--set {pair!r}: write it as key=value, e.g. answer_threshold=0.6")
        parsed.append((key.strip().lower().replace("-", "_"), value.strip()))
    return tuple(parsed)


def candidate_settings(settings: Settings, overrides: tuple[tuple[str, str], ...]) -> Settings:
    """`settings` with the overrides applied and validated like the environment's values."""
    if not overrides:
        return settings
    fixed = [key for key, _ in overrides if key in FIXED_SETTINGS]
    if fixed:
        raise ReplayError(f"--set {fixed[0]} cannot change in a replay: it reads the data in service")
    known = set(Settings.model_fields)
    unknown = [key for key, _ in overrides if key not in known]
    if unknown:
        raise ReplayError(f"--set {unknown[0]}: no such setting (settings: {', '.join(sorted(known))})")
    values = {key: (None if value.lower() in ("", "none", "null") else value) for key, value in overrides}
    try:
        return Settings(**{**settings.model_dump(), **values})
    except ValueError as error:  # pydantic's ValidationError
        raise ReplayError(f"--set: {error}".splitlines()[0] + " " + " ".join(str(error).splitlines()[1:3])) from None


def candidate_entries(services: Services, candidate: Candidate) -> tuple[list[Entry], int]:
    """The candidate's knowledge base and the version it is named by (a file's is 0)."""
    if candidate.kb_file is not None:
        try:
            read = read_file(Path(candidate.kb_file))
        except ImportFileError as error:
            raise ReplayError(str(error)) from None
        if read.errors:
            shown = "; ".join(str(e) for e in read.errors[:3])
            raise ReplayError(f"{candidate.kb_file}: {len(read.errors)} rows cannot be read ({shown})")
        return read.entries, 0
    repository = services.knowledge_base
    if candidate.kb_version is not None:
        version, current = candidate.kb_version, repository.current_version()
        begins = max(repository.history_begins(), 1)
        if not begins <= version <= current:
            known = f"versions {begins} to {current} are known" if current else "the KB has no version yet"
            raise ReplayError(f"--kb-version {version}: no such version of the KB ({known})")
        return repository.entries_at(version), version
    return repository.list_entries(), repository.current_version()


def candidate_generator(services: Services, settings: Settings, candidate: Candidate) -> Generator:
    """The candidate's generator: a model version, a `generator` value, or the one in service."""
    if candidate.model_version:
        registry = ModelRegistry(settings.models_dir)
        try:
            card = registry.get(candidate.model_version)
        except ModelVersionError as error:
            raise ReplayError(str(error)) from None
        base = create_generator(card.base, settings.models_dir, settings.device, settings.max_new_tokens)
        if not isinstance(base, LocalGenerator):
            raise ReplayError(f"model version {card.id} is not of a local model ({card.base!r})")
        return version_generator(base, card.kind, registry.weights_dir(card))
    if candidate.generator:
        try:
            return create_generator(candidate.generator, settings.models_dir, settings.device,
                                    settings.max_new_tokens)
        except ValueError as error:
            raise ReplayError(str(error)) from None
    return services.generator


class ReplayLog:
    """The conversation store of a replayed engine: it takes each turn and keeps none of it. A
    replayed turn is always the first of its conversation, with its history supplied, so the
    engine asks the store for nothing else."""

    def __init__(self) -> None:
        self.turns = 0

    def check_reachable(self) -> None:
        """Always reachable: nothing is written."""

    def log_turn(self, conversation_id: str, user_text: str, reply: Reply, channel: str = "unknown",
                 turn_key: str | None = None, visitor_hash: str | None = None) -> int:
        self.turns += 1
        return self.turns


class QueryCache:
    """An embedder that remembers its vectors: `prime` embeds a replay's questions in batches,
    and the retriever's one-at-a-time `encode` calls then find them (misses, such as a
    follow-up's context, are embedded as they come)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.model_name = embedder.model_name
        self._vectors: dict[str, np.ndarray] = {}

    def warm_up(self) -> None:
        self.embedder.warm_up()

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    def prime(self, texts: list[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        self._vectors.update(zip(missing, self.embedder.encode(missing)))

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.prime(list(texts))
        if not texts:
            return self.embedder.encode([])
        return np.stack([self._vectors[t] for t in texts])


@contextmanager
def candidate_engine(services: Services, candidate: Candidate,
                     generator: Generator | None = None) -> Iterator[ChatEngine]:
    """An engine for `candidate` (see the module's docstring; a temporary index is removed on
    exit); `generator` overrides the candidate's (tests script one)."""
    settings = candidate_settings(services.settings, candidate.overrides)
    chosen = generator or candidate_generator(services, settings, candidate)
    new_model = any(key in ("embedding_model", "entry_head", "index_type") for key, _ in candidate.overrides)
    with ExitStack() as stack:
        if candidate.kb_file is None and candidate.kb_version is None and not new_model:
            store = services.index_store  # the snapshot in service, only read
            manifest = store.read_manifest()
            if manifest is None:
                raise ReplayError("no index is built yet: import a knowledge base first")
            model = manifest.embedding_model
        else:
            entries, kb_version = candidate_entries(services, candidate)
            if not entries:
                raise ReplayError("the candidate knowledge base has no entries")
            # The model the service would use for these entries (a tuned one stays), unless set.
            model = (choose_embedding_model(settings.embedding_model, entries) if new_model
                     else services._embedding_model(entries))
            folder = settings.home / "replays"
            folder.mkdir(parents=True, exist_ok=True)
            work = stack.enter_context(tempfile.TemporaryDirectory(prefix=".candidate-", dir=folder))
            store = IndexStore(Path(work) / "index", settings.entry_head, index_type=settings.index_type)
            store.rebuild(entries, kb_version, services.embedders.get(model),
                          calibration=services.calibration_inputs(model))
        retriever = Retriever(store, QueryCache(services.embedders.get(model)))  # type: ignore[arg-type]
        engine = ChatEngine(settings, retriever, chosen, ReplayLog(), grounding=grounding_checker(settings))  # type: ignore[arg-type]
        engine.warm_up()
        yield engine
