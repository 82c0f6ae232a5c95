"""`Hit`: an entry that retrieval found, with its score.

Its own light module (no numpy, no FAISS) because the generator side needs it too: prompts,
messages and the generation bench import it on machines that have only torch and transformers.
"""

from __future__ import annotations

from typing import NamedTuple

from knowledge_base.entries import Entry


class Hit(NamedTuple):
    """An entry found for a query: `score` is the decision score (the cosine of its best-matching
    `phrasing`, blended with the classifier head's probability when the index has a head).

    A named tuple, not a frozen dataclass: every dense search makes several, and a frozen
    dataclass costs 2.5 µs each to create (its __init__ goes through object.__setattr__), a
    tenth of a whole HNSW search at 100k phrasings.
    """

    entry: Entry
    score: float
    phrasing: str
