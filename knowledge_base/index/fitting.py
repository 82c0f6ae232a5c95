"""What a snapshot build fits on its phrasing vectors before the writer writes them.

Four steps, in this order because each needs the one before: the classifier head over the
entries (`knowledge_base.retrieval.entry_head`), the answer threshold calibrated on the head's
blended score or the plain cosine (`knowledge_base.retrieval.calibration`), BM25's weight in
fusion scaled to this model's cosine spread (`knowledge_base.retrieval.fusion`), and the BM25
index over the phrasings and answers (`knowledge_base.retrieval.lexical`).

Everything it needs comes in as arguments (the calibration quantile among them, chosen by the
caller), so a build reads nothing from disk here.

    >>> fit = fit_snapshot(vectors, vector_entries, entries, entry_head="auto")
    >>> fit.calibration.threshold, fit.lexical_weight
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Collection, Sequence

import numpy as np

from knowledge_base.entries import Entry
from knowledge_base.retrieval.calibration import Calibration, CalibrationInputs, calibrate
from knowledge_base.retrieval.clarify_band import ClarifyBand, calibrate_band, calibration_pairs
from knowledge_base.retrieval.entry_head import (MIN_OUT_OF_SCOPE_ROWS, EntryHead, fit_entry_head, head_wanted,
                                                 out_of_scope_folds)
from knowledge_base.retrieval.fusion import LEXICAL_WEIGHT_PER_SPREAD, dense_spread
from knowledge_base.retrieval.lexical import LexicalIndex, entry_documents


@dataclass(frozen=True)
class SnapshotFit:
    """What `fit_snapshot` fitted: the head (None: no head), the threshold's calibration, BM25's
    share in fusion and the BM25 index."""

    head: EntryHead | None
    calibration: Calibration
    lexical_weight: float
    lexical: LexicalIndex
    band: ClarifyBand | None = None  # the "Did you mean …?" band; None when not asked for


def fit_snapshot(vectors: np.ndarray, vector_entries: Sequence[str], entries: Collection[Entry], *,
                 entry_head: str = "auto", previous_head: EntryHead | None = None,
                 calibration: CalibrationInputs | None = None,
                 encode: Callable[[list[str]], np.ndarray] | None = None,
                 step: Callable[[str], None] | None = None) -> SnapshotFit:
    """Fit the head, calibrate the threshold, weigh and build BM25 for one snapshot.

    `vectors`: one unit row per live phrasing, `vector_entries` their entries' ids in the same
    order; `entries`: the snapshot's entries. `entry_head` is the setting ("auto", "on", "off";
    see `head_wanted`), `previous_head` a head of the same model to start the fit from.
    `calibration` carries the target rate, the labelled queries and the quantile; `encode` (the
    snapshot model's) embeds the labelled queries. `step(name)` is told when BM25's build
    starts (minutes at a million phrasings), for a progress display.
    """
    encode = _memoised(encode) if encode is not None else None  # labels are encoded once for all
    known = set(vector_entries)
    if calibration is not None:  # a label of an entry deleted since can no longer be answered right
        calibration = replace(calibration, labelled=[(text, e) for text, e in calibration.labelled
                                                     if e is None or e in known])
    outside, outside_rows = _out_of_scope_labels(calibration, encode)
    head, held_out = None, []
    if head_wanted(entry_head, len(entries), len(vector_entries)):
        head = fit_entry_head(vectors, vector_entries, init=previous_head, out_of_scope=outside)
        if head is not None and head.has_out_of_scope:
            # The head learnt these labels: calibration scores each with a head that did not.
            held_out = [(outside_rows[rows], fold_head)
                        for rows, fold_head in out_of_scope_folds(vectors, vector_entries, outside, init=head)]
        else:
            outside = None
    calibrated = calibrate(vectors, vector_entries, calibration, encode=encode, head=head,
                           out_of_scope=outside, held_out=held_out)
    band = _band(vectors, vector_entries, calibration, calibrated, encode, head, outside, held_out)
    lexical_weight = round(LEXICAL_WEIGHT_PER_SPREAD * dense_spread(vectors, vector_entries), 4)
    if step is not None:
        step("BM25")
    lexical = LexicalIndex().build(entry_documents(entries))
    return SnapshotFit(head, calibrated, lexical_weight, lexical, band)


def _out_of_scope_labels(inputs: CalibrationInputs | None, encode: Callable[[list[str]], np.ndarray] | None
                         ) -> tuple[np.ndarray | None, np.ndarray]:
    """The vectors of the out-of-scope labels, when there are enough for the head's class, and
    their rows among the labels."""
    if inputs is None or encode is None:
        return None, np.zeros(0, dtype=np.int64)
    rows = np.array([i for i, (_, e) in enumerate(inputs.labelled) if e is None], dtype=np.int64)
    if len(rows) < MIN_OUT_OF_SCOPE_ROWS:
        return None, rows
    return encode([text for text, _ in inputs.labelled])[rows], rows


def _band(vectors: np.ndarray, vector_entries: Sequence[str], inputs: CalibrationInputs | None,
          calibrated: Calibration, encode: Callable[[list[str]], np.ndarray] | None,
          head: EntryHead | None, outside: np.ndarray | None,
          held_out: Sequence[tuple[np.ndarray, EntryHead]]) -> ClarifyBand | None:
    """The clarification band over the answer threshold just calibrated, on the same pairs
    (`inputs.labelled` holds only labels of known entries)."""
    if inputs is None or inputs.clarify_target is None or calibrated.threshold is None:
        return None
    labelled = list(inputs.labelled)
    label_vectors = list(encode([t for t, _ in labelled])) if labelled and encode is not None else []
    scores, ranked, truth = calibration_pairs(vectors, vector_entries, head,
                                              list(zip(label_vectors, [e for _, e in labelled])),
                                              out_of_scope=outside, held_out=held_out)
    return calibrate_band(scores, ranked, truth, calibrated.threshold, inputs.clarify_target,
                          inputs.max_out_of_scope_clarified)


def _memoised(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """`encode` that remembers its last call (the same labels are encoded for two calibrations)."""
    last: dict[tuple[str, ...], np.ndarray] = {}

    def encode_once(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in last:
            last.clear()
            last[key] = encode(texts)
        return last[key]

    return encode_once
