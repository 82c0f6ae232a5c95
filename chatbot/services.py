"""The application object: every service wired from settings, created once at start-up.

The CLI, the web app and the API all call these services; none of them builds its own.
Nothing here loads a model: `warm_up()` does, and the server calls it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

import knowledge_base

from chatbot.conversation_store import ConversationStore
from chatbot.database import create_db_engine, upgrade_database
from chatbot.engine import ChatEngine
from chatbot.generators.base import Generator
from chatbot.generators.factory import create_generator
from chatbot.settings import Settings
from knowledge_base.embedder import Embedder, choose_embedding_model
from knowledge_base.importing import FileReport, import_files
from knowledge_base.index import IndexStore, Manifest
from knowledge_base.repository import KnowledgeBaseRepository
from knowledge_base.retriever import Retriever
from knowledge_base.sync import sync_index

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
class Services:
    settings: Settings
    database: Engine
    knowledge_base: KnowledgeBaseRepository
    index_store: IndexStore
    embedders: EmbedderPool
    retriever: Retriever
    generator: Generator
    conversations: ConversationStore
    engine: ChatEngine

    @property
    def embedder(self) -> Embedder:
        """The embedder of the index in service."""
        return self.retriever.embedder

    def sync_index(self, full: bool = False, progress: bool = False) -> Manifest:
        """Bring the index up to date with the knowledge base (incrementally when it can).

        The embedding model follows the setting; with "auto" it follows the KB's languages, and
        a change of model rebuilds the index.
        """
        model = choose_embedding_model(self.settings.embedding_model, self.knowledge_base.list_entries())
        manifest = sync_index(self.knowledge_base, self.index_store, self.embedders.get(model),
                              full=full, progress=progress)
        self.retriever.refresh()
        return manifest

    def import_files(self, paths: list[Path], progress: bool = False) -> list[FileReport]:
        """Import knowledge-base files, then update the index for what changed."""
        reports = import_files(self.knowledge_base, paths, progress=progress)
        self.sync_index(progress=progress)
        return reports

    def warm_up(self) -> None:
        """Bring the index up to date (built, right model, latest KB version), then load every
        model, so the first customer waits for none."""
        self.sync_index(progress=True)
        self.engine.warm_up()


def build_services(settings: Settings, channel: str = "web", migrate: bool = True) -> Services:
    """Wire the services for `settings`; with `migrate`, bring the database schema to head first."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade_database(settings.database_url)
    database = create_db_engine(settings.database_url)
    index_store = IndexStore(settings.index_dir)
    repository = KnowledgeBaseRepository(database)
    embedders = EmbedderPool(settings)
    manifest = index_store.read_manifest()
    model = manifest.embedding_model if manifest else choose_embedding_model(settings.embedding_model, [])
    generator = create_generator(settings.generator, settings.models_dir, settings.device,
                                 settings.max_new_tokens)
    conversations = ConversationStore(database)
    retriever = Retriever(index_store, embedders.get(model), embedder_for=embedders.get)
    engine = ChatEngine(settings, retriever, generator, conversations, channel=channel)
    return Services(settings, database, repository, index_store, embedders, retriever, generator,
                    conversations, engine)
