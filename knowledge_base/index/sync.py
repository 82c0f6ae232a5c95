"""Keep the index snapshot in step with the knowledge base in the database."""

from __future__ import annotations

from knowledge_base.retrieval.calibration import CalibrationInputs
from knowledge_base.embedding.embedder import Embedder
from knowledge_base.index.snapshot import Manifest
from knowledge_base.index.writer import IndexStore
from knowledge_base.repository import KnowledgeBaseRepository


def sync_index(repository: KnowledgeBaseRepository, store: IndexStore, embedder: Embedder,
               *, full: bool = False, progress: bool = False,
               calibration: CalibrationInputs | None = None) -> Manifest:
    """Bring the index up to the KB's current version and return the manifest in service.

    A full rebuild happens when asked, when there is no snapshot yet, or when the embedding model
    changed; otherwise only the entries changed since the snapshot's version are re-embedded.
    A new snapshot's answer threshold is calibrated with `calibration` (knowledge_base.retrieval.calibration).
    A snapshot whose index is not the kind the store would build now (its `index_type` setting
    changed) is rebuilt from its stored vectors, without re-embedding.
    """
    manifest = store.read_manifest()
    version = repository.current_version()  # read first: a change racing us is applied next time
    if full or manifest is None or manifest.embedding_model != embedder.model_name:
        return store.rebuild(repository.list_entries(), version, embedder, progress=progress,
                             calibration=calibration)
    if manifest.kb_version >= version:
        if store.needs_reshape(manifest):
            return store.update([], [], manifest.kb_version, embedder, progress=progress,
                                calibration=calibration)
        return manifest
    changes = repository.changes_since(manifest.kb_version)
    return store.update(changes.upserted, changes.deleted_ids, changes.version, embedder,
                        progress=progress, calibration=calibration)
