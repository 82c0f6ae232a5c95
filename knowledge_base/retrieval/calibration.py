"""Calibrate the answer/abstain threshold: a quantile of the KB's own phrasings, or a target
wrong-answer rate on labelled (score, correct?) pairs.

Two rules, both recorded in the index manifest (`Calibration`):

- **quantile**: leave-one-out over the phrasings: each phrasing plays a customer's question, and
  its best cosine to the *other* phrasings of its own entry is the score a genuine paraphrase of
  that entry would get. The threshold is a low quantile of those scores, so that about
  (1 - quantile) of in-scope questions clear it, whatever the embedding model's scale (MiniLM's
  cosines sit near 0.5, e5's near 0.85).
- **target**: labelled pairs (top cosine, was the top entry the right one?) come from
  leave-one-out over the phrasings (the held-out phrasing against *all* others) and from turns
  staff labelled (scored against the snapshot: an in-scope label is right when its entry comes
  top, an out-of-scope label is wrong whenever it is answered). The threshold is the lowest one
  whose wrong-answer rate among the pairs it answers is at most the target.

Why the quantile stays as a floor until staff label out-of-scope questions: leave-one-out pairs
are all in scope, so their only wrong answers are confusions between entries. On a KB whose
entries are well apart that rate is near zero at any threshold, and the target rule alone would
answer everything, out-of-scope questions included. Only out-of-scope labels show where such
questions score; once there are some, the target rule decides alone (it may then go below the
quantile when the labels show that out-of-scope questions score low).

A rate is only measured once there are enough pairs: the target rule needs at least
`MIN_WRONG_AT_TARGET / target` of them (100 for a 5 % target), below which one confusion more or
less swings the rate past the target; smaller KBs keep the quantile rule.

Leave-one-out and labelled turns are scored as the retriever scores a query, less BM25: the
dense cosine, or, when the snapshot has a classifier head (`knowledge_base.retrieval.entry_head`), the
blend of cosine and head probability. With a head, the phrasings' pairs come from k-fold cross-
validation (the head refitted without the held-out fold), so a phrasing never votes for itself.
The engine's BM25 fusion may reorder near-ties, so the rates recorded are those of the dense decision.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from knowledge_base.retrieval.entry_head import (EntryHead, blend, cross_validated_scores, entry_max_cosine,
                                                 rows_by_head)

DEFAULT_QUANTILE = 0.05
# A model tuned on these very phrasings scores them higher than it will score new questions, so
# its leave-one-out scores are optimistic: a lower quantile keeps the same share of answers.
TUNED_QUANTILE = 0.02
# Leave-one-out queries against all phrasings cost queries x phrasings dot products: a seeded
# sample bounds a large KB's calibration to seconds (2,000 pairs measure a rate to about +-1 %).
MAX_LEAVE_ONE_OUT_QUERIES = 2000
# The target rule needs pairs enough for this many wrong answers at the target rate.
MIN_WRONG_AT_TARGET = 5
# The other targets a calibration also reports (and `chatbot eval`'s trade-off table shows), so
# that staff choosing CHATBOT_TARGET_WRONG_RATE see what each would answer.
WRONG_RATE_TARGETS = (0.02, 0.05, 0.10, 0.15, 0.20, 0.30)
_BLOCK = 1024  # query rows per matrix product: bounded memory on large KBs
_TOLERANCE = 1e-9  # a rate equal to the target meets it, whatever the float rounding


@dataclass(frozen=True)
class CalibrationInputs:
    """What the index build calibrates against beyond the KB: the target wrong-answer rate
    (None: quantile rule only), staff-labelled queries, `(text, expected entry id or None
    for out of scope)`, and the quantile of the quantile rule, which the caller chooses
    (`TUNED_QUANTILE` for a model tuned on these phrasings, else `DEFAULT_QUANTILE`).
    `clarify_target`: the wrong-answer rate the "Did you mean …?" band is calibrated to
    (`knowledge_base.retrieval.clarify_band`; None: no band), and the most out-of-scope
    labels it may let through to a clarification."""

    target_wrong_rate: float | None = None
    labelled: Sequence[tuple[str, str | None]] = ()
    quantile: float = DEFAULT_QUANTILE
    clarify_target: float | None = None
    max_out_of_scope_clarified: float = 0.15


@dataclass(frozen=True)
class Calibration:
    """The threshold chosen, the rule that chose it, and what it does on the calibration pairs."""

    threshold: float | None
    rule: str  # "quantile" | "target" | "target-unreachable" | "none"
    quantile: float
    quantile_threshold: float | None
    target_wrong_rate: float | None
    pairs: int  # leave-one-out + labelled pairs
    labelled_turns: int  # labelled queries scored (labels of deleted entries are left out)
    out_of_scope_labels: int
    answer_rate: float | None  # expected share answered among the pairs
    wrong_rate: float | None  # expected share of wrong answers among the answered pairs
    # The same rules at each of WRONG_RATE_TARGETS: {"target", "threshold", "rule", "answer_rate",
    # "wrong_rate"} on the same pairs, for choosing the setting.
    alternatives: tuple[dict, ...] = ()


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


def _top1(queries: np.ndarray, vectors: np.ndarray,
          self_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best cosine and its phrasing row for each query; query i skips row `self_rows[i]`."""
    best_scores, best_rows = [np.zeros(0, dtype=np.float32)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(queries), _BLOCK):
        sims = queries[start:start + _BLOCK] @ vectors.T
        block = np.arange(len(sims))
        if self_rows is not None:
            sims[block, self_rows[start:start + _BLOCK]] = -np.inf
        best = sims.argmax(axis=1)
        best_rows.append(best)
        best_scores.append(sims[block, best])
    return np.concatenate(best_scores), np.concatenate(best_rows)


def leave_one_out_pairs(vectors: np.ndarray, entry_ids: Sequence[str],
                        max_queries: int = MAX_LEAVE_ONE_OUT_QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(top cosine, top entry is its own?) for phrasings held out against all the others.

    Only phrasings whose entry has another phrasing play a question (an entry's only phrasing,
    held out, could never be answered right); past `max_queries` a seeded sample of them does.
    """
    counts = Counter(entry_ids)
    playable = np.array([row for row, entry_id in enumerate(entry_ids) if counts[entry_id] >= 2], dtype=np.int64)
    if len(playable) > max_queries:
        playable = np.sort(np.random.default_rng(seed).choice(playable, max_queries, replace=False))
    scores, rows = _top1(vectors[playable], vectors, self_rows=playable)
    ids = np.asarray(entry_ids, dtype=object)
    return scores, np.asarray(ids[rows] == ids[playable], dtype=bool)


def _top1_blended(queries: np.ndarray, vectors: np.ndarray, entry_ids: Sequence[str],
                  head: EntryHead) -> tuple[np.ndarray, np.ndarray]:
    """Best blended score (cosine and head probability) and its entry id for each query."""
    best_scores, best_ids = [np.zeros(0, dtype=np.float32)], [np.zeros(0, dtype=object)]
    for start in range(0, len(queries), _BLOCK):
        block = queries[start:start + _BLOCK]
        mixed = blend(entry_max_cosine(block, vectors, entry_ids, head.classes), head.probabilities(block))
        best = mixed.argmax(axis=1)
        best_scores.append(mixed[np.arange(len(block)), best])
        best_ids.append(np.asarray(head.classes, dtype=object)[best])
    return np.concatenate(best_scores), np.concatenate(best_ids)


def labelled_pairs(query_vectors: np.ndarray, expected: Sequence[str | None], vectors: np.ndarray,
                   entry_ids: Sequence[str], head: EntryHead | None = None,
                   held_out: Sequence[tuple[np.ndarray, EntryHead]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(top score, right answer?) for labelled queries: an out-of-scope label (None) is never
    answered right; an in-scope one is when its entry comes top. The score is the cosine, or
    the blended score when the snapshot has a `head`; `held_out` (row numbers, head) pairs score
    those rows with a head that did not learn from them (`entry_head.out_of_scope_folds`)."""
    if len(expected) == 0 or len(entry_ids) == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=bool)
    if head is not None:
        scores = np.zeros(len(expected), dtype=np.float32)
        ids = np.empty(len(expected), dtype=object)
        for rows, row_head in rows_by_head(len(expected), head, held_out):
            if len(rows):
                scores[rows], ids[rows] = _top1_blended(query_vectors[rows], vectors, entry_ids, row_head)
        correct = np.array([e is not None and e == top for e, top in zip(expected, ids)], dtype=bool)
        return scores, correct
    scores, rows = _top1(query_vectors, vectors)
    ids = np.asarray(entry_ids, dtype=object)[rows]
    correct = np.array([e is not None and e == top for e, top in zip(expected, ids)], dtype=bool)
    return scores, correct


def rates_at(threshold: float, scores: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """(share answered, share of wrong answers among the answered) at `threshold` (answer when
    the score is at or above it); the wrong rate of no answers is 0."""
    answered = scores >= threshold
    n_answered = int(answered.sum())
    wrong = int((answered & ~correct).sum())
    return (n_answered / len(scores) if len(scores) else 0.0), (wrong / n_answered if n_answered else 0.0)


def target_threshold(scores: np.ndarray, correct: np.ndarray, target: float,
                     floor: float | None = None) -> tuple[float, bool] | None:
    """The lowest threshold (not below `floor`) whose wrong-answer rate among the pairs it
    answers is at most `target`, and True; if none is, the one with the lowest rate, and False.
    None without pairs.

    Candidates are the pair scores themselves (a threshold between two scores answers the same
    pairs as the higher one) and the floor.
    """
    if len(scores) == 0:
        return None
    candidates = np.unique(scores)
    if floor is not None:
        candidates = np.unique(np.r_[floor, candidates[candidates >= floor]])
    descending = np.argsort(-scores, kind="stable")
    wrong_so_far = np.cumsum(~correct[descending])
    # Pairs answered at each candidate: those scoring at or above it.
    answered = len(scores) - np.searchsorted(np.sort(scores), candidates, side="left")
    wrong = np.where(answered > 0, wrong_so_far[np.maximum(answered - 1, 0)], 0)
    rate = np.divide(wrong, answered, out=np.zeros(len(candidates)), where=answered > 0)
    meets = rate <= target + _TOLERANCE
    if meets.any():
        return float(candidates[np.argmax(meets)]), True  # candidates ascend: the first is lowest
    return float(candidates[np.argmin(rate)]), False


def calibrate(vectors: np.ndarray, entry_ids: Sequence[str], inputs: CalibrationInputs | None = None,
              encode: Callable[[list[str]], np.ndarray] | None = None,
              head: EntryHead | None = None, out_of_scope: np.ndarray | None = None,
              held_out: Sequence[tuple[np.ndarray, EntryHead]] = ()) -> Calibration:
    """Choose the answer threshold for a snapshot's phrasing `vectors` (see the module's rules).

    `inputs` carries the target rate, the labelled queries and the quantile (default: the
    quantile rule at `DEFAULT_QUANTILE`). `encode` embeds the labelled queries with the
    snapshot's model; it is needed only when `inputs` has labelled queries. `head`: the
    snapshot's classifier head, whose blended score the threshold then applies to; when it learnt
    the out-of-scope labels (`out_of_scope`, their vectors), `held_out` holds the heads that score
    them (rows of `inputs.labelled`, which must then hold no label of an unknown entry).
    """
    inputs = inputs or CalibrationInputs()
    quantile = inputs.quantile
    if head is not None:
        scores, correct = cross_validated_scores(vectors, entry_ids, init=head, out_of_scope=out_of_scope)
        floor = round(float(np.quantile(scores[correct], quantile)), 4) if correct.any() else None
    else:
        floor = calibrate_threshold(vectors, entry_ids, quantile)
        scores, correct = leave_one_out_pairs(vectors, entry_ids)
    known = set(entry_ids)
    # A label naming an entry deleted since cannot be answered right any more: left out.
    labelled = [(text, expected) for text, expected in inputs.labelled if expected is None or expected in known]
    out_of_scope = sum(1 for _, expected in labelled if expected is None)
    if labelled:
        if encode is None:
            raise ValueError("labelled queries need `encode` (the snapshot's embedding model)")
        label_scores, label_correct = labelled_pairs(
            encode([text for text, _ in labelled]), [e for _, e in labelled], vectors, entry_ids, head, held_out)
        scores, correct = np.r_[scores, label_scores], np.r_[correct, label_correct]

    # Without out-of-scope labels the quantile is a floor (see the module docstring).
    threshold, rule = _rules(scores, correct, inputs.target_wrong_rate, floor, out_of_scope > 0)
    answer_rate, wrong_rate = _rates(threshold, scores, correct)
    alternatives = []
    for target in WRONG_RATE_TARGETS:
        other, other_rule = _rules(scores, correct, target, floor, out_of_scope > 0)
        other_answered, other_wrong = _rates(other, scores, correct)
        alternatives.append({"target": target, "threshold": other, "rule": other_rule,
                             "answer_rate": other_answered, "wrong_rate": other_wrong})
    return Calibration(
        threshold=threshold, rule=rule, quantile=quantile, quantile_threshold=floor,
        target_wrong_rate=inputs.target_wrong_rate, pairs=int(len(scores)), labelled_turns=len(labelled),
        out_of_scope_labels=out_of_scope,
        answer_rate=answer_rate, wrong_rate=wrong_rate, alternatives=tuple(alternatives),
    )


def _rules(scores: np.ndarray, correct: np.ndarray, target: float | None, floor: float | None,
           out_of_scope_labels: bool) -> tuple[float | None, str]:
    """The threshold and the rule that sets it for `target` (see the module docstring)."""
    threshold, rule = floor, "quantile" if floor is not None else "none"
    if target is not None and target > 0 and len(scores) * target + _TOLERANCE >= MIN_WRONG_AT_TARGET:
        value, met = target_threshold(scores, correct, target, floor=None if out_of_scope_labels else floor)
        if not met:
            threshold, rule = value, "target-unreachable"
        elif floor is None or out_of_scope_labels or value > floor:
            threshold, rule = value, "target"
    return threshold, rule


def _rates(threshold: float | None, scores: np.ndarray, correct: np.ndarray) -> tuple[float | None, float | None]:
    """`rates_at`, rounded; None without a threshold or pairs."""
    if threshold is None or not len(scores):
        return None, None
    answered, wrong = rates_at(threshold, scores, correct)
    return round(answered, 4), round(wrong, 4)
