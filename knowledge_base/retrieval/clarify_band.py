"""Calibrate when to ask "Did you mean …?": the clarify threshold and the answer margin, on the
same pairs as the answer threshold (knowledge_base.retrieval.calibration).

Each calibration query (a phrasing held out of its entry, or a turn staff labelled) is scored as
a customer's question: its best entries, their scores, and its own entry (None: out of scope).
With an answer threshold already chosen, two more numbers are chosen here:

- **answer band** (`answer`, `margin`): answer only when the top score is at least `answer` (never
  below the answer threshold) and the top entry leads the next by at least `margin`. Among the
  (threshold, margin) pairs whose wrong-answer rate meets the clarification target, the one that
  answers the most pairs wins; the others are clarified instead of answered, which costs the
  customer a click, not a wrong answer. Measured only with pairs enough for the target
  (`MIN_WRONG_AT_TARGET / target`); fewer: the plain answer threshold, no margin.
  Too few pairs for the target: no band at all (`clarify == answer`, no margin), as on a small
  KB nothing says where its out-of-scope questions score.
- **clarify threshold** (`clarify`): below it, abstain. Without out-of-scope labels it is the
  answer threshold: nothing says where out-of-scope questions score, so a question the plain
  decision abstains on is still abstained on (clarification only replaces unsure answers).
  With `MIN_OUT_OF_SCOPE_LABELS` of them, the `CLARIFY_QUANTILE` of the top scores of the
  in-scope pairs whose entry is among the options a clarification shows (the questions a
  clarification would resolve), raised until at most `max_out_of_scope_clarified` of the
  out-of-scope labels reach a clarification (they should be abstained on and offered a
  human). Never above `answer`.

    >>> band = calibrate_band(scores, ranked, truth, answer_threshold=0.48, target=0.05)
    >>> band.clarify, band.answer, band.margin
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from knowledge_base.retrieval.calibration import (
    MAX_LEAVE_ONE_OUT_QUERIES,
    MIN_WRONG_AT_TARGET,
    target_threshold,
)
from knowledge_base.retrieval.entry_head import OUT_OF_SCOPE, EntryHead, blend, cross_validated_top, rows_by_head

# Share of the resolvable in-scope pairs that may fall below the clarify threshold (abstained).
CLARIFY_QUANTILE = 0.02
DEFAULT_MAX_OUT_OF_SCOPE_CLARIFIED = 0.15
MIN_OUT_OF_SCOPE_LABELS = 20  # fewer out-of-scope labels say too little about where they score
OPTIONS = 3
# The margins tried: leads of the top entry over the next, in score units (cosine or blended).
_BLOCK = 1024  # query rows per matrix product: bounded memory on large KBs
MARGINS = tuple(round(m, 3) for m in np.arange(0.0, 0.305, 0.01))


@dataclass(frozen=True)
class ClarifyBand:
    """The calibrated decision: answer at or above `answer` with a lead of `margin`, clarify at or
    above `clarify`, abstain below; and what it does on the calibration pairs."""

    answer: float
    clarify: float
    margin: float
    rule: str  # "target" | "target-unreachable" | "none" (no band: answer or abstain)
    target_wrong_rate: float | None
    pairs: int
    out_of_scope_labels: int
    answer_rate: float | None = None  # shares of the pairs answered, clarified, abstained
    clarify_rate: float | None = None
    wrong_rate: float | None = None  # wrong answers among the answered pairs
    resolved_rate: float | None = None  # in-scope pairs answered right or clarified with their entry

    def to_dict(self) -> dict:
        return asdict(self)


def band_rates(scores: np.ndarray, ranked: np.ndarray, truth: np.ndarray, answer: float,
               clarify: float, margin: float, options: int = OPTIONS) -> dict[str, float]:
    """What a band does on the pairs: shares answered, clarified and wrong among the answered,
    and the in-scope pairs resolved (answered right, or clarified with their entry among the
    first `options`)."""
    top, lead = _top_and_lead(scores)
    answered = (top >= answer) & (lead >= margin)
    clarified = ~answered & (top >= clarify)
    right = ranked[:, 0] == truth
    in_scope = np.array([t is not None for t in truth], dtype=bool)
    offered = np.array([t is not None and t in row[:options] for t, row in zip(truth, ranked)], dtype=bool)
    n = max(len(top), 1)
    resolved = (answered & right) | (clarified & offered)
    return {
        "answer_rate": round(float(answered.sum()) / n, 4),
        "clarify_rate": round(float(clarified.sum()) / n, 4),
        "wrong_rate": round(float((answered & ~right).sum()) / max(int(answered.sum()), 1), 4),
        "resolved_rate": round(float(resolved[in_scope].sum()) / max(int(in_scope.sum()), 1), 4),
    }


def _top_and_lead(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = scores[:, 0] if len(scores) else np.zeros(0)
    second = scores[:, 1] if scores.shape[1] > 1 else np.full(len(scores), -np.inf)
    return top, np.where(np.isfinite(second), top - second, np.inf)


def calibrate_band(scores: np.ndarray, ranked: np.ndarray, truth: np.ndarray, answer_threshold: float | None,
                   target: float | None, max_out_of_scope_clarified: float = DEFAULT_MAX_OUT_OF_SCOPE_CLARIFIED,
                   options: int = OPTIONS) -> ClarifyBand:
    """Choose the band for the pairs: `scores` (n, k) best first, `ranked` their entry ids,
    `truth` each query's entry id or None (out of scope); see the module's docstring."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(truth), -1)
    truth = np.asarray(truth, dtype=object)
    out_of_scope = int(sum(t is None for t in truth))
    if answer_threshold is None or not len(truth):
        value = answer_threshold if answer_threshold is not None else 0.0
        return ClarifyBand(value, value, 0.0, "none", target, len(truth), out_of_scope)
    top, lead = _top_and_lead(scores)
    right = ranked[:, 0] == truth
    if not target or len(truth) * target < MIN_WRONG_AT_TARGET:
        # Too few pairs to measure a rate: no band, the plain answer/abstain decision.
        return ClarifyBand(answer_threshold, answer_threshold, 0.0, "none", target, len(truth), out_of_scope)
    answer, margin, rule = _answer_band(top, lead, right, answer_threshold, target)
    clarify = _clarify_threshold(top, ranked, truth, answer_threshold, options, max_out_of_scope_clarified)
    clarify = round(min(clarify, answer), 4)
    rates = band_rates(scores, ranked, truth, answer, clarify, margin, options)
    return ClarifyBand(round(answer, 4), clarify, margin, rule, target, len(truth), out_of_scope, **rates)


def _answer_band(top: np.ndarray, lead: np.ndarray, right: np.ndarray, floor: float,
                 target: float) -> tuple[float, float, str]:
    """The (threshold, margin) meeting `target` that answers the most pairs, and its rule."""
    best: tuple[int, float, float] | None = None  # (answered, threshold, margin)
    fallback: tuple[float, float, float] | None = None  # (rate, threshold, margin)
    for margin in MARGINS:
        kept = lead >= margin
        if not kept.any():
            continue
        found = target_threshold(top[kept], right[kept], target, floor=floor)
        if found is None:
            continue
        threshold, met = found
        answered = kept & (top >= threshold)
        if met:
            if best is None or int(answered.sum()) > best[0]:
                best = (int(answered.sum()), threshold, margin)
        else:
            rate = float((answered & ~right).sum()) / max(int(answered.sum()), 1)
            if fallback is None or rate < fallback[0]:
                fallback = (rate, threshold, margin)
    if best is not None:
        return best[1], best[2], "target"
    if fallback is not None:
        return fallback[1], fallback[2], "target-unreachable"
    return floor, 0.0, "none"


def _clarify_threshold(top: np.ndarray, ranked: np.ndarray, truth: np.ndarray, answer_threshold: float,
                       options: int, max_out_of_scope: float) -> float:
    """The abstain line below the band (see the module's docstring)."""
    outside = np.array([t is None for t in truth], dtype=bool)
    if outside.sum() < MIN_OUT_OF_SCOPE_LABELS:
        return answer_threshold
    offered = np.array([t is not None and t in row[:options] for t, row in zip(truth, ranked)], dtype=bool)
    clarify = float(np.quantile(top[offered], CLARIFY_QUANTILE)) if offered.any() else answer_threshold
    # At most `max_out_of_scope` of the out-of-scope labels may score at or above it.
    return max(clarify, float(np.quantile(top[outside], 1.0 - max_out_of_scope)))

def top_entries(query_vectors: np.ndarray, vectors: np.ndarray, entry_ids: Sequence[str],
                head: EntryHead | None = None, skip_rows: np.ndarray | None = None,
                k: int = OPTIONS) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `k` best entries as the retriever scores them less BM25 (the best phrasing's
    cosine, blended with the `head`'s probability when there is one): (scores, entry ids), best
    first. Query i does not see phrasing row `skip_rows[i]` (itself, held out)."""
    classes = head.classes if head is not None else tuple(dict.fromkeys(entry_ids))
    column = {entry_id: j for j, entry_id in enumerate(classes)}
    columns = np.fromiter((column[e] for e in entry_ids), dtype=np.int64, count=len(entry_ids))
    order = np.argsort(columns, kind="stable")
    starts = np.flatnonzero(np.r_[True, columns[order][1:] != columns[order][:-1]])
    present = columns[order][starts]
    all_scores, all_ids = [], []
    for start in range(0, len(query_vectors), _BLOCK):
        sims = query_vectors[start:start + _BLOCK] @ vectors.T
        if skip_rows is not None:
            sims[np.arange(len(sims)), skip_rows[start:start + _BLOCK]] = -np.inf
        per_entry = np.full((len(sims), len(classes)), -1.0, dtype=np.float32)
        per_entry[:, present] = np.maximum.reduceat(sims[:, order], starts, axis=1)
        if OUT_OF_SCOPE in column:
            per_entry[:, column[OUT_OF_SCOPE]] = -np.inf  # the head's out-of-scope class: no entry
        if head is not None:
            per_entry = blend(per_entry, head.probabilities(query_vectors[start:start + _BLOCK]))
        best = np.argsort(-per_entry, axis=1, kind="stable")[:, :k]
        all_scores.append(np.take_along_axis(per_entry, best, axis=1))
        all_ids.append(np.asarray(classes, dtype=object)[best])
    if not all_scores:
        return np.zeros((0, k)), np.zeros((0, k), dtype=object)
    return np.concatenate(all_scores), np.concatenate(all_ids)


def calibration_pairs(vectors: np.ndarray, entry_ids: Sequence[str], head: EntryHead | None = None,
                      labelled: Sequence[tuple[np.ndarray, str | None]] = (),
                      max_queries: int = MAX_LEAVE_ONE_OUT_QUERIES, seed: int = 0,
                      out_of_scope: np.ndarray | None = None,
                      held_out: Sequence[tuple[np.ndarray, EntryHead]] = ()
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, entry ids, truth) of the calibration queries, as `calibrate_band` takes them: the
    phrasings held out (k-fold with a head, as the answer threshold's calibration does; else
    leave-one-out on a seeded sample of at most `max_queries`) and the `labelled` query vectors
    with their expected entry (None: out of scope). `out_of_scope` and `held_out`: as
    `calibration.calibrate` takes them (rows of `labelled`)."""
    if head is not None:
        scores, ranked, truth = cross_validated_top(vectors, entry_ids, k=OPTIONS, init=head,
                                                    out_of_scope=out_of_scope)
    else:
        counts = Counter(entry_ids)
        playable = np.array([r for r, e in enumerate(entry_ids) if counts[e] >= 2], dtype=np.int64)
        if len(playable) > max_queries:
            playable = np.sort(np.random.default_rng(seed).choice(playable, max_queries, replace=False))
        scores, ranked = top_entries(vectors[playable], vectors, entry_ids, skip_rows=playable)
        truth = np.asarray(entry_ids, dtype=object)[playable]
    if labelled:
        query_vectors = np.stack([vector for vector, _ in labelled]).astype(np.float32)
        label_scores, label_ranked = _labelled_top(query_vectors, vectors, entry_ids, head, held_out)
        scores, ranked = np.r_[scores, label_scores], np.r_[ranked, label_ranked]
        truth = np.r_[truth, np.asarray([e for _, e in labelled], dtype=object)]
    return scores, ranked, truth


def _labelled_top(query_vectors: np.ndarray, vectors: np.ndarray, entry_ids: Sequence[str],
                  head: EntryHead | None, held_out: Sequence[tuple[np.ndarray, EntryHead]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`top_entries` of labelled queries, each row scored by its head (`rows_by_head`)."""
    if not held_out:
        return top_entries(query_vectors, vectors, entry_ids, head)
    parts = [(rows, *top_entries(query_vectors[rows], vectors, entry_ids, row_head))
             for rows, row_head in rows_by_head(len(query_vectors), head, held_out) if len(rows)]
    width = min(part[1].shape[1] for part in parts)  # a fold's head may lack the out-of-scope class
    scores = np.zeros((len(query_vectors), width), dtype=np.float32)
    ranked = np.empty((len(query_vectors), width), dtype=object)
    for rows, part_scores, part_ranked in parts:
        scores[rows], ranked[rows] = part_scores[:, :width], part_ranked[:, :width]
    return scores, ranked
