"""The application object: every service wired from settings, created once at start-up.

The CLI, the web app and the API all call these services; none of them builds its own.
Nothing here loads a model: `warm_up()` does, and the server calls it at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

import knowledge_base

from chatbot.conversation_services import ConversationServices
from chatbot.conversation_log_services import ConversationLogServices
from chatbot.kb_editor_services import KBEditorServices
from chatbot.knowledge_services import KnowledgeServices
from chatbot.kb_history_services import KBHistoryServices
from chatbot.staff.analytics import AnalyticsServices
from chatbot.staff.services import StaffDesk, StaffServices
from chatbot.staff.queue_services import QueueServices
from chatbot.staff.learning import learned_phrasing
from chatbot.site_services import SiteServices
from chatbot.settings_services import SettingsServices
from chatbot.live_settings import SUGGESTIONS, LiveSettings
from chatbot.replay_services import ReplayServices
from chatbot.conversations.store import ConversationStore
from chatbot.conversations.suggestions import suggested_questions
from chatbot.conversations.database import check_database, create_db_engine, database_errors, upgrade_database
from chatbot.errors import DatabaseUnavailable
from chatbot.messages import Citation
from chatbot.engine import ChatEngine
from chatbot.generators.base import Generator
from chatbot.generators.batching import BatchingOptions
from chatbot.generators.factory import create_generator
from chatbot.generators.local import LocalGenerator
from chatbot.generators.promoted import follow_promoted
from chatbot.generators.remote import RemoteOptions
from chatbot.generators.registry import ModelCard, ModelRegistry
from chatbot.settings import Settings
from chatbot.conversations.labels import TurnLabel, UnknownEntry
from knowledge_base.retrieval.calibration import DEFAULT_QUANTILE, TUNED_QUANTILE, CalibrationInputs
from knowledge_base.embedding.embedder import Embedder, choose_embedding_model, resolve_model_path
from knowledge_base.entries import Entry
from knowledge_base.importers.export import write_entries
from knowledge_base.importers.importing import FileReport, ImportListener, import_files
from knowledge_base.index.snapshot import IndexNotBuilt, Manifest
from knowledge_base.index.writer import IndexStore
from knowledge_base.repository import KnowledgeBaseRepository
from knowledge_base.retrieval.retriever import Retriever
from knowledge_base.index.sync import sync_index
from knowledge_base.embedding.tuning import tune_embedder, tuned_from

DEMO_KB = Path(knowledge_base.__file__).resolve().parent / "demo" / "shop_faq.jsonl"


class EmbedderPool:
    """One embedder per model name, shared by indexing and retrieval; models load on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._embedders: dict[str, Embedder] = {}

    def get(self, model_name: str) -> Embedder:
        if model_name not in self._embedders:
            settings = self._settings
            self._embedders[model_name] = Embedder(model_name, settings.device, settings.embed_batch_size,
                                                   models_dir=settings.models_dir)
        return self._embedders[model_name]


@dataclass
class Services(ConversationServices, ConversationLogServices, KnowledgeServices, KBHistoryServices, KBEditorServices,
               StaffServices, SiteServices, SettingsServices, ReplayServices, AnalyticsServices, QueueServices):
    settings: Settings
    database: Engine
    knowledge_base: KnowledgeBaseRepository
    index_store: IndexStore
    embedders: EmbedderPool
    retriever: Retriever
    generator: Generator
    conversations: ConversationStore
    engine: ChatEngine
    staff: StaffDesk
    live: LiveSettings  # `settings` with the values staff changed in the console (chatbot.live_settings)

    @property
    def embedder(self) -> Embedder:
        """The embedder of the index in service."""
        return self.retriever.embedder

    def sync_index(self, full: bool = False, progress: bool = False) -> Manifest:
        """Bring the index up to date with the knowledge base (incrementally when it can).

        The embedding model follows the setting; with "auto" it follows the KB's languages, and
        a change of model rebuilds the index. An index built with a tuned model (`tune_index`)
        keeps it through updates; `full` rebuilds with the configured, untuned model.
        """
        with database_errors(self.database):  # the KB repository's driver errors -> chatbot.errors
            entries = self.knowledge_base.list_entries()
            # A full rebuild goes back to the configured model; an update keeps a tuned one.
            model = (choose_embedding_model(self.settings.embedding_model, entries) if full
                     else self._embedding_model(entries))
            manifest = sync_index(self.knowledge_base, self.index_store, self.embedders.get(model),
                                  full=full, progress=progress, calibration=self.calibration_inputs(model))
        self.retriever.refresh()
        return manifest

    def calibration_inputs(self, model: str) -> CalibrationInputs:
        """What an index built with the embedding `model` calibrates its answer threshold on:
        the target wrong-answer rate, the staff-labelled turns (query as logged, expected entry
        or None) and the quantile, lower for a model tuned on the KB's own phrasings (it scores
        them higher than it will score new questions). A label whose question became a phrasing
        of its entry (`chatbot.staff.learning`) is left out: it would score itself, always right;
        the phrasings' own cross-validated pairs count it instead."""
        entries = {e.id: e for e in self.knowledge_base.list_entries()}
        labelled = [(t.query, t.expected_id) for t in self.conversations.labelled_turns()
                    if t.query.strip() and not learned_phrasing(t, entries)]
        quantile = TUNED_QUANTILE if tuned_from(model) else DEFAULT_QUANTILE
        settings = self.live.current()  # the targets staff set in the console, else the environment's
        return CalibrationInputs(settings.target_wrong_rate, labelled, quantile,
                                 settings.clarify_target_wrong_rate if settings.clarify else None,
                                 settings.clarify_max_out_of_scope)

    def calibrate_index(self, progress: bool = False) -> Manifest:
        """Recalibrate the answer threshold with the current labels and target: the snapshot's
        vectors go unchanged into a new snapshot (after bringing the index up to date)."""
        manifest = self.sync_index(progress=progress)
        model = manifest.embedding_model
        manifest = self.index_store.update([], [], manifest.kb_version, self.embedders.get(model),
                                           progress=progress, calibration=self.calibration_inputs(model))
        self.retriever.refresh()
        return manifest

    def label_turn(self, turn_id: int, expected_id: str | None, review: str | None = None,
                   corrected_answer: str | None = None, labelled_by: str = "") -> TurnLabel:
        """Label a logged turn with the entry that should have answered it (None: out of scope)
        and optionally a review of the bot's answer; raises `UnknownEntry` for an id that is not
        a live entry, `UnknownTurn` for an unknown turn (see `ConversationStore.label_turn`).
        The question becomes a phrasing of its entry and the index follows (`learn_from_labels`)."""
        if expected_id is not None and self.knowledge_base.get(expected_id) is None:
            raise UnknownEntry(f"no knowledge-base entry has id {expected_id!r} (see `chatbot kb list`)")
        label = self.conversations.label_turn(turn_id, expected_id, review, corrected_answer, labelled_by)
        if not self.learn_from_labels():
            self.calibrate_index()
        return label

    def _embedding_model(self, entries: list[Entry]) -> str:
        """The model the index should use: the setting's (or "auto"'s) choice, or the model tuned
        from that choice if the index in service already uses one (it stays until re-tuned)."""
        chosen = choose_embedding_model(self.settings.embedding_model, entries)
        manifest = self.index_store.read_manifest()
        if manifest is not None and manifest.embedding_model != chosen:
            base = tuned_from(manifest.embedding_model)
            if base is not None and base == resolve_model_path(chosen, self.settings.models_dir):
                return manifest.embedding_model
        return chosen

    def tune_index(self, epochs: int = 3, progress: bool = False) -> Manifest:
        """Fine-tune the embedding model on the KB's phrasings into a new model version under
        `CHATBOT_HOME/models/tuned/`, then rebuild the index with it (the untuned model stays)."""
        entries = self.knowledge_base.list_entries()
        base = choose_embedding_model(self.settings.embedding_model, entries)
        version = self.knowledge_base.current_version()
        out_dir = self.settings.models_dir / "tuned" / f"{Path(base).name}-kb{version}-{int(time.time())}"
        tune_embedder(resolve_model_path(base, self.settings.models_dir), entries, out_dir,
                      epochs=epochs, progress=progress, device=self.settings.device)
        manifest = sync_index(self.knowledge_base, self.index_store, self.embedders.get(str(out_dir)),
                              full=True, progress=progress, calibration=self.calibration_inputs(str(out_dir)))
        self.retriever.refresh()
        return manifest

    def import_files(self, paths: list[Path], progress: bool = False,
                     listener: ImportListener | None = None, author: str = "cli") -> list[FileReport]:
        """Import knowledge-base files as `author` (the CLI's imports are "cli"'s), then update the
        index for what changed (and re-tune the embedder when `CHATBOT_AUTO_TUNE` is on and
        something changed); `listener` hears each file's progress (the console's background imports)."""
        # Each file is one transaction (a refused file stores nothing); a database that is down or
        # busy stops the import as DatabaseUnavailable / DatabaseBusy, one that refuses a value
        # refuses that file only.
        with database_errors(self.database):
            reports = import_files(self.knowledge_base, paths, progress=progress, listener=listener, author=author)
        changed = any(r.created or r.updated for r in reports)
        if self.settings.auto_tune and changed:
            self.tune_index(progress=progress)
        else:
            self.sync_index(progress=progress)
        return reports

    def delete_entries(self, entry_ids: list[str], progress: bool = False, author: str = "cli") -> list[str]:
        """Delete entries by id (one new KB version), then update the index as after an import;
        returns the ids deleted. Raises `UnknownEntry`, deleting nothing, when an id is not a
        live entry."""
        ids = list(dict.fromkeys(entry_ids))
        with database_errors(self.database):
            unknown = [entry_id for entry_id in ids if self.knowledge_base.get(entry_id) is None]
            if unknown:
                raise UnknownEntry(f"no knowledge-base entry has id {', '.join(map(repr, unknown))} "
                                   "(see `chatbot kb list`); nothing was deleted")
            self.knowledge_base.delete(ids, author=author)
        self.sync_index(progress=progress)
        return ids

    def export_kb(self, path: Path) -> int:
        """Write every entry to `path` (.csv, .tsv, .json, .jsonl or .xlsx) in a form `import_files`
        reads back; returns how many. Raises `ExportFormatError` for another extension."""
        with database_errors(self.database):
            entries = self.knowledge_base.list_entries()
        return write_entries(path, entries)

    def warm_up(self) -> None:
        """Bring the index up to date (built, right model, latest KB version), then load every
        model, so the first customer waits for none."""
        self.sync_index(progress=True)
        self.engine.warm_up()

    def suggested_questions(self, language: str, limit: int = SUGGESTIONS) -> list[str]:
        """The questions a new chat suggests in `language`: those staff pinned, else the most
        asked entries first (`chatbot.conversations.suggestions`); [] while no index is built."""
        pinned = self.pinned_questions(language)
        if pinned:
            return pinned[:limit]
        try:
            entries = list(self.retriever.snapshot().entries.values())
        except IndexNotBuilt:
            return []
        return suggested_questions(self.conversations, entries, language, limit)

    def citations_of(self, entry_ids: Sequence[str]) -> list[Citation]:
        """The entries `entry_ids` as an answer's citations (numbered from 1, their questions and
        urls as the knowledge base has them now; ids no longer in it are left out). For showing a
        logged answer's sources again."""
        try:
            entries = self.retriever.snapshot().entries
        except IndexNotBuilt:
            return []
        return [Citation(n, i, entries[i].question, 0.0, entries[i].url)
                for n, i in enumerate((i for i in entry_ids if i in entries), start=1)]

    def health(self) -> "Health":
        """Whether the bot can answer: the database is reachable and an index is built."""
        manifest = self.index_store.read_manifest()
        health = Health("ok", manifest and manifest.kb_version, manifest and manifest.entry_count,
                        self.generator.name)
        try:
            check_database(self.database)
        except DatabaseUnavailable as error:
            health.status, health.detail = "unavailable", error.customer_message
        if manifest is None:
            health.status, health.detail = "unavailable", NO_INDEX
        return health


NO_INDEX = "No search index is built yet: import a knowledge base."


@dataclass
class Health:
    """What `Services.health` found; `detail` says why when `status` is "unavailable"."""

    status: str  # "ok" | "unavailable"
    kb_version: int | None
    entry_count: int | None
    generator: str
    detail: str = ""


def build_services(settings: Settings, channel: str = "web", migrate: bool = True) -> Services:
    """Wire the services for `settings`; with `migrate`, bring the database schema to head first."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade_database(settings.database_url)
    database = create_db_engine(settings.database_url)
    index_store = IndexStore(settings.index_dir, settings.entry_head, index_type=settings.index_type)
    repository = KnowledgeBaseRepository(database)
    embedders = EmbedderPool(settings)
    manifest = index_store.read_manifest()
    model = manifest.embedding_model if manifest else choose_embedding_model(settings.embedding_model, [])
    remote = RemoteOptions(settings.generator_model, settings.openai_api_key, settings.openai_timeout_s,
                           settings.openai_max_retries)
    batching = (BatchingOptions(settings.generation_batch_size, settings.generation_cache_tokens)
                if settings.generation_batching else None)
    # A local model serves its promoted fine-tuned version (`chatbot model promote`), if any.
    generator = follow_promoted(create_generator(settings.generator, settings.models_dir, settings.device,
                                                 settings.max_new_tokens, remote=remote, batching=batching),
                                ModelRegistry(settings.models_dir))
    conversations = ConversationStore(database)
    retriever = Retriever(index_store, embedders.get(model), embedder_for=embedders.get)
    live = LiveSettings(settings, database)
    engine = ChatEngine(settings, retriever, generator, conversations, channel=channel, live=live.current)
    return Services(settings, database, repository, index_store, embedders, retriever, generator,
                    conversations, engine, StaffDesk.for_settings(database, settings), live)


@dataclass(frozen=True)
class Promotion:
    """A model version just promoted, and whether the `generator` setting lets it serve: a
    version serves only under the base it was tuned from (chatbot.generators.promoted)."""

    card: ModelCard
    serves: bool


def promote_model(settings: Settings, version_id: str) -> Promotion:
    """Promote `version_id` (`ModelRegistry.promote`: raises `ModelVersionError` for an unknown
    or incomplete version) and say whether the configured generator is that version's base.
    Needs no database and loads no model, so it runs without the other services."""
    card = ModelRegistry(settings.models_dir).promote(version_id)
    try:
        configured = create_generator(settings.generator, settings.models_dir)
    except ValueError:  # a bad setting serves no version at all
        configured = None
    return Promotion(card, isinstance(configured, LocalGenerator) and configured.model == card.base)
