"""A labelled test set: its cases, read from JSON Lines, and what the engine did with each.

Shared by the evaluation run, the threshold trade-off and the reports (none imports another
for these types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ABSTAIN = "abstain"  # the label of an abstention, and the expected label of out-of-scope lines
CLARIFY = "clarify"  # the label of a clarification: neither an answer nor an abstention


class TestSetError(ValueError):
    """The test set file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Case:
    query: str
    expected_id: str | None
    line: int


@dataclass(frozen=True)
class CaseResult:
    case: Case
    ranked_ids: list[str]
    abstained: bool
    latency_ms: float
    top_score: float = 0.0  # the cosine the answer/abstain decision read
    clarified: bool = False  # the bot asked "Did you mean …?" with `options`
    options: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        return self.case.expected_id or ABSTAIN

    @property
    def predicted(self) -> str:
        """The entry answered with, "abstain" or "clarify"."""
        if self.clarified:
            return CLARIFY
        return ABSTAIN if self.abstained or not self.ranked_ids else self.ranked_ids[0]

    @property
    def answered(self) -> bool:
        """Answered with an entry: neither abstained nor clarified."""
        return self.predicted not in (ABSTAIN, CLARIFY)

    @property
    def answered_wrong(self) -> bool:
        """Answered, with another entry than expected (any answer to an out-of-scope line)."""
        return self.answered and self.predicted != self.expected

    @property
    def resolved(self) -> bool:
        """In scope, and answered with its entry or clarified with its entry among the options."""
        expected = self.case.expected_id
        return expected is not None and (self.predicted == expected or (self.clarified and expected in self.options))


def load_test_set(path: Path) -> list[Case]:
    """Read and check a test set; every problem names its line."""
    cases: list[Case] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TestSetError(f"{path}: cannot read the test set: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            raise TestSetError(f"{path}:{number}: expected an object with a string 'query'")
        expected = item.get("expected_id")
        if expected is not None and not isinstance(expected, str):
            raise TestSetError(f"{path}:{number}: 'expected_id' must be a string or null")
        cases.append(Case(item["query"], expected, number))
    if not cases:
        raise TestSetError(f"{path}: the test set has no cases")
    return cases
