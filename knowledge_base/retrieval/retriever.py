"""Retrieval: the query's vector against every phrasing; the best phrasing speaks for its entry.

The retriever follows the snapshot in service: when another process (or an import) switches
`CURRENT`, the next search loads the new snapshot.

    >>> retriever = Retriever(IndexStore(home / "index"), Embedder())
    >>> [hit.entry.id for hit in retriever.search("where is my parcel?", k=3)]
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from knowledge_base.embedding.embedder import Embedder
from knowledge_base.retrieval.entry_head import blend
from knowledge_base.retrieval.fusion import weighted_fusion
from knowledge_base.retrieval.hits import Hit
from knowledge_base.index.snapshot import Snapshot
from knowledge_base.index.writer import IndexStore

# Each entry has several phrasings, so more vectors than entries are fetched before grouping.
OVERFETCH = 8
# How often a search looks for a newer snapshot (written by another process or thread).
REFRESH_SECONDS = 1.0
# Entries each retriever proposes before fusion.
FUSION_CANDIDATES = 20
# Entries the classifier head finds most likely join the candidates even when no phrasing is near.
HEAD_CANDIDATES = 5
# A follow-up's own words lead; the question it refers to supplies the topic.
CONTEXT_WEIGHT = 0.35


class Retriever:
    """Dense nearest-phrasing search over the current index snapshot."""

    def __init__(self, store: IndexStore, embedder: Embedder,
                 embedder_for: Callable[[str], Embedder] | None = None) -> None:
        """`embedder_for(model_name)` supplies the embedder when a snapshot was built with another
        model than `embedder`'s (queries must be embedded by the model that built the index)."""
        self.store = store
        self.embedder = embedder
        self._embedder_for = embedder_for
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self.embedder.warm_up()
        self.snapshot()

    def snapshot(self) -> Snapshot:
        """The snapshot in service, reloaded if another build switched to a newer one.

        The pointer file is read at most every `REFRESH_SECONDS`, not on every query.
        """
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked_at < REFRESH_SECONDS:
            return self._snapshot
        name = self.store.current_name()
        self._checked_at = now
        with self._lock:
            if self._snapshot is None or self._snapshot.manifest.snapshot != name:
                self._snapshot = self.store.load()
                model = self._snapshot.manifest.embedding_model
                if model != self.embedder.model_name:
                    if self._embedder_for is None:
                        raise RuntimeError(f"the index was built with {model!r}, not "
                                           f"{self.embedder.model_name!r}: rebuild it")
                    self.embedder = self._embedder_for(model)
            return self._snapshot

    def refresh(self) -> None:
        """Look for a newer snapshot on the next search (after this process built one)."""
        self._checked_at = 0.0

    @property
    def kb_version(self) -> int:
        return self.snapshot().manifest.kb_version

    def search(self, query: str, k: int = 5, lexical_weight: float | None = None,
               context: str = "") -> list[Hit]:
        """The `k` best entries for `query`, best first, one hit per entry.

        `Hit.score` is the decision score, which the abstain threshold reads: the cosine of the
        entry's best phrasing, blended with the classifier head's probability for the entry when
        the snapshot has a head (`knowledge_base.retrieval.entry_head`). BM25 (`lexical_weight`; None: the
        weight calibrated for this snapshot, 0: dense only) reorders the candidates but never
        changes a hit's score. `context` (the question a follow-up refers to) is mixed into the
        query vector at `CONTEXT_WEIGHT`; BM25 sees only the follow-up's own words, which are
        what is new.
        """
        snap = self.snapshot()  # first: it decides which embedder the query needs
        if context:
            vectors = self.embedder.encode([query, context])
            mixed = vectors[0] + CONTEXT_WEIGHT * vectors[1]
            vector = mixed / np.linalg.norm(mixed)
        else:
            vector = self.embedder.encode([query])[0]
        weight = snap.manifest.lexical_weight if lexical_weight is None else lexical_weight
        use_lexical = snap.lexical is not None and weight > 0
        if not use_lexical and snap.head is None:
            return self.search_vector(vector, k)
        wanted = max(k, FUSION_CANDIDATES)
        hits = {hit.entry.id: hit for hit in self.search_vector(vector, wanted)}
        lexical = dict(snap.lexical.search(query, wanted)) if use_lexical else {}
        scores = {entry_id: hit.score for entry_id, hit in hits.items()}
        if snap.head is not None:
            probabilities = snap.head.probabilities(vector)[0]
            column = snap.head.column
            # The head may be sure of an entry whose phrasings are not the nearest: a candidate too.
            top = np.argpartition(-probabilities, min(HEAD_CANDIDATES, len(probabilities) - 1))[:HEAD_CANDIDATES]
            likely = [snap.head.classes[j] for j in top]
            for entry_id in [*likely, *lexical]:
                if entry_id not in hits and entry_id in snap.entries:
                    hits[entry_id] = self._exact_hit(snap, entry_id, vector)
            weight_head = snap.manifest.head_weight
            scores = {entry_id: float(blend(hit.score, probabilities[column[entry_id]] if entry_id in column else 0.0,
                                            weight_head))
                      for entry_id, hit in hits.items()}
        fused = weighted_fusion(scores, lexical, weight) if use_lexical else \
            sorted(scores.items(), key=lambda pair: -pair[1])
        ranked = []
        for entry_id, _ in fused[:k]:
            hit = hits.get(entry_id) or self._exact_hit(snap, entry_id, vector)
            ranked.append(Hit(hit.entry, scores.get(entry_id, hit.score), hit.phrasing))
        return ranked

    @staticmethod
    def _exact_hit(snap: Snapshot, entry_id: str, vector: np.ndarray) -> Hit:
        """The real cosine of an entry BM25 found outside the dense candidates."""
        ids = snap.vector_ids[entry_id]
        scores = snap.index.reconstruct_batch(np.array(ids, dtype=np.int64)) @ vector
        best = int(np.argmax(scores))
        return Hit(snap.entries[entry_id], float(scores[best]), snap.phrasings[ids[best]].text)

    def search_vector(self, vector: np.ndarray, k: int = 5) -> list[Hit]:
        """The `k` best entries by cosine alone, for a query already embedded (a unit vector)."""
        snap = self.snapshot()
        count = snap.manifest.phrasing_count
        return snap.nearest_entries(vector, k, min(count, k * OVERFETCH)) if count else []
