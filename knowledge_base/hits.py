"""`Hit`: an entry that retrieval found, with its score.

Its own light module (no numpy, no FAISS) because the generator side needs it too: prompts,
messages and the generation bench import it on machines that have only torch and transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge_base.entries import Entry


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry found for a query: `score` is the decision score (the cosine of its best-matching
    `phrasing`, blended with the classifier head's probability when the index has a head)."""

    entry: Entry
    score: float
    phrasing: str
