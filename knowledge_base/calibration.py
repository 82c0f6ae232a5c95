"""Calibrate the answer/abstain threshold from the knowledge base's own phrasings.

Leave-one-out: each phrasing plays a customer's question, and its best cosine to the *other*
phrasings of its own entry is the score a genuine paraphrase of that entry would get. The
threshold is a low quantile of those scores, so that about (1 - quantile) of in-scope questions
clear it, whatever the embedding model's scale (MiniLM's cosines sit near 0.5, e5's near 0.85).

Only same-entry pairs are compared: the cost is the sum of squares of the phrasings per entry,
small at any knowledge-base size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

DEFAULT_QUANTILE = 0.05
# A model tuned on these very phrasings scores them higher than it will score new questions, so
# its leave-one-out scores are optimistic: a lower quantile keeps the same share of answers.
TUNED_QUANTILE = 0.02


def leave_one_out_scores(vectors: np.ndarray, entry_ids: Sequence[str]) -> np.ndarray:
    """For each phrasing of an entry with two or more, its best cosine to its siblings."""
    rows: dict[str, list[int]] = defaultdict(list)
    for row, entry_id in enumerate(entry_ids):
        rows[entry_id].append(row)
    scores: list[np.ndarray] = []
    for members in rows.values():
        if len(members) < 2:
            continue
        block = vectors[members]
        sims = block @ block.T
        np.fill_diagonal(sims, -np.inf)
        scores.append(sims.max(axis=1))
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def calibrate_threshold(vectors: np.ndarray, entry_ids: Sequence[str],
                        quantile: float = DEFAULT_QUANTILE) -> float | None:
    """The `quantile` of the leave-one-out scores, or None when no entry has two phrasings."""
    scores = leave_one_out_scores(vectors, entry_ids)
    if scores.size == 0:
        return None
    return round(float(np.quantile(scores, quantile)), 4)
