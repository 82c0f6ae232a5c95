"""Combining the dense and the lexical (BM25) rankings of one query. Pure functions, no I/O.

Two ways, measured in bench/bench_hybrid.py:

- `weighted_fusion` (the default): dense cosine + `weight` × BM25 score divided by the query's
  best BM25 score. The cosine keeps its meaning, so a confident dense match stays on top, and a
  lexical match only reorders entries whose cosines are close. The right `weight` follows how
  spread out the embedder's cosines are (multilingual-e5-small's are about 5 times tighter than
  all-MiniLM-L6-v2's), so it is set from the index: `weight = LEXICAL_WEIGHT_PER_SPREAD ×
  dense_spread(phrasing vectors, entry ids)`, about 0.11-0.16 for MiniLM and 0.025 for e5.
- `reciprocal_rank_fusion`: ranks only, no scores. Use it when the scores of the lists cannot be
  compared or normalised (e.g. more than two retrievers, or an external one). It throws away
  how confident each retriever was, and that costs accuracy on paraphrased questions, where BM25
  is often confidently wrong (DESIGN.md: 0.746 vs dense 0.821 on BANKING77).

Neither output is a cosine: keep the dense cosine of the chosen entry for the answer/abstain
threshold, and use fusion for the order only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# weighted_fusion's weight per unit of dense_spread: the best setting on the demo knowledge base
# (en, zh) and BANKING77 for both shipped embedders (bench/bench_hybrid.py).
LEXICAL_WEIGHT_PER_SPREAD = 0.5


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None,
                           k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists (best first): each id scores Σ weight_i / (k + rank_i), rank from 1.

    An id missing from a list gets nothing from it; an id repeated within a list counts at its
    first (best) rank. `weights` default to 1 each. Ties keep the order in which ids first
    appear, reading the lists in turn. `k` (60, as in Cormack et al. 2009) damps the top ranks.

        >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], [1.0, 1.0], k=1)
        [('b', 0.8333...), ('a', 0.5), ('c', 0.3333...)]
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    if k <= 0:
        raise ValueError("k must be positive")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])  # sorted() is stable: ties keep order


def weighted_fusion(dense: Mapping[str, float], lexical: Mapping[str, float],
                    weight: float) -> list[tuple[str, float]]:
    """Fuse scores: dense[id] + weight × lexical[id] / max(lexical), best first.

    `dense` holds cosines of the dense candidates; `lexical` raw BM25 scores (positive) of the
    lexical ones. An id that only BM25 found is given the lowest dense score present (it was not
    in the dense top-k, so its cosine is at most that); an id BM25 did not find gets 0 from it.
    Ties keep the order of `dense`, then of `lexical`.

        >>> weighted_fusion({"a": 0.80, "b": 0.78}, {"b": 12.0, "c": 6.0}, weight=0.1)
        [('b', 0.88...), ('c', 0.83...), ('a', 0.8)]
    """
    if weight < 0:
        raise ValueError("weight must not be negative")
    top = max(lexical.values(), default=0.0)
    floor = min(dense.values(), default=0.0)
    fused: dict[str, float] = {}
    for item in [*dense, *(i for i in lexical if i not in dense)]:
        lexical_part = lexical.get(item, 0.0) / top if top > 0 else 0.0
        fused[item] = dense.get(item, floor) + weight * lexical_part
    return sorted(fused.items(), key=lambda pair: -pair[1])


def dense_spread(vectors: np.ndarray, entry_ids: Sequence[str], rank: int = 10,
                 sample: int = 2000, seed: int = 0) -> float:
    """How far apart an embedder's cosines lie in this knowledge base: the median, over phrasings
    used as queries (leave-one-out), of the best entry's cosine minus the `rank`-th entry's.

    `vectors` are the unit phrasing vectors, `entry_ids` their entries. At most `sample`
    phrasings are used as queries (a fixed random choice), in blocks, so memory stays small on
    large knowledge bases. 0.0 with fewer than two entries.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    ids = np.asarray(entry_ids)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(ids)} entry ids")
    order = np.argsort(ids, kind="stable")  # group each entry's phrasings for reduceat
    vectors, ids = vectors[order], ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
    if len(starts) < 2:
        return 0.0
    rank = min(rank, len(starts))
    rows = np.random.default_rng(seed).permutation(len(vectors))[:sample]
    gaps = []
    for block in np.array_split(rows, max(1, len(rows) // 256)):
        sims = vectors[block] @ vectors.T
        sims[np.arange(len(block)), block] = -np.inf  # a phrasing does not find itself
        per_entry = -np.sort(-np.maximum.reduceat(sims, starts, axis=1), axis=1)
        gaps.append(per_entry[:, 0] - per_entry[:, rank - 1])
    gaps = np.concatenate(gaps)
    return float(np.median(gaps[np.isfinite(gaps)])) if np.isfinite(gaps).any() else 0.0
