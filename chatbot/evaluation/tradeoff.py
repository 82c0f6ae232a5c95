"""What the answer/abstain decision would give on a test set at other thresholds.

`chatbot eval` measures the decision at the threshold in service. Staff choosing
`CHATBOT_TARGET_WRONG_RATE` (or `CHATBOT_ANSWER_THRESHOLD`) want the other side of it too: how
many more questions would be answered, and how many more of those wrongly, if the bot were
bolder or more careful. Every case carries its top score, and the engine answers exactly when it
has a hit scoring at or above the threshold (a refused message has no hits), so the decision at
any threshold follows from the results without running the test set again.

The thresholds found here for a wrong-answer rate are fitted on the test set itself: they show the
trade-off, they do not promise the rate on new questions (the threshold in service is calibrated
on the knowledge base's own phrasings and labelled turns, see knowledge_base.retrieval.calibration).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from chatbot.evaluation.cases import CaseResult
from knowledge_base.retrieval.calibration import WRONG_RATE_TARGETS, target_threshold


@dataclass(frozen=True)
class Operating:
    """The decision at one threshold: `targets` are the wrong-answer rates it is the lowest
    threshold for on this test set (empty for the threshold in service, unless it is that too)."""

    threshold: float
    in_service: bool
    targets: tuple[float, ...]
    answer_rate: float  # answered, of all questions
    wrong_answer_rate: float  # answered with another entry than expected, of the answered
    answered_correctly: float  # in-scope questions answered with the expected entry, of the in-scope
    out_of_scope_abstained: float  # of the out-of-scope questions

    def to_dict(self) -> dict:
        return {key: (round(value, 4) if isinstance(value, float) else
                      [round(t, 4) for t in value] if isinstance(value, tuple) else value)
                for key, value in asdict(self).items()}


@dataclass(frozen=True)
class _Cases:
    """Per case, as arrays: top score, has a hit, the top hit is the expected entry, in scope."""

    scores: np.ndarray
    has_hit: np.ndarray
    right: np.ndarray
    in_scope: np.ndarray

    @classmethod
    def of(cls, results: Sequence[CaseResult]) -> "_Cases":
        return cls(np.array([r.top_score for r in results], dtype=float),
                   np.array([bool(r.ranked_ids) for r in results], dtype=bool),
                   np.array([bool(r.ranked_ids) and r.ranked_ids[0] == r.case.expected_id for r in results],
                            dtype=bool),
                   np.array([r.case.expected_id is not None for r in results], dtype=bool))

    def at(self, threshold: float, in_service: bool = False, targets: tuple[float, ...] = ()) -> Operating:
        answered = self.has_hit & (self.scores >= threshold)

        def share(numerator: np.ndarray, denominator: np.ndarray) -> float:
            total = int(denominator.sum())
            return float((numerator & denominator).sum()) / total if total else 0.0

        return Operating(
            threshold=float(threshold),
            in_service=in_service,
            targets=targets,
            answer_rate=share(answered, np.ones_like(answered)),
            wrong_answer_rate=share(~self.right, answered),
            answered_correctly=share(answered & self.right, self.in_scope),
            out_of_scope_abstained=share(~answered, ~self.in_scope),
        )


def operating_point(results: Sequence[CaseResult], threshold: float) -> Operating:
    """The rates if every case were decided at `threshold` (answer when the top score is at or above it)."""
    return _Cases.of(results).at(threshold)


def threshold_tradeoff(results: Sequence[CaseResult], current: float,
                       targets: Sequence[float] = WRONG_RATE_TARGETS) -> list[Operating]:
    """The threshold in service and, for each wrong-answer rate in `targets`, the lowest threshold
    that keeps to it on these results: one row per distinct threshold, sorted. Targets no
    threshold meets are left out."""
    cases = _Cases.of(results)
    found_for: dict[float, list[float]] = {float(current): []}
    for target in targets:
        found = target_threshold(cases.scores[cases.has_hit], cases.right[cases.has_hit], target)
        if found is not None and found[1]:
            found_for.setdefault(found[0], []).append(target)
    return [cases.at(threshold, threshold == current, tuple(sorted(found_for[threshold])))
            for threshold in sorted(found_for)]


def tradeoff_curve(results: Sequence[CaseResult], points: int = 60) -> list[Operating]:
    """Operating points at `points` thresholds spread evenly over the range of the top scores."""
    cases = _Cases.of(results)
    scores = cases.scores[cases.has_hit]
    if not len(scores):
        return []
    return [cases.at(t) for t in np.linspace(scores.min(), scores.max(), points)]
