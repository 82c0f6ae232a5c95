"""The fuzz suite's fixed budgets, and the hypothesis settings that make runs reproducible.

The budgets are what CI runs (issue 11: at least 2,000 chat inputs and 500 files per database).
`CHATBOT_TEST_FUZZ_SCALE` (a float, default 1) scales them for a quick local run; the budget
asserted at the end scales with it, so a run is never silently shorter than it says.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

CHAT_INPUTS_PER_DATABASE = 2000
FILES_PER_DATABASE = 500
# A run that has not spent its budget after this many seconds stops sending (and fails on the
# budget): on code that got slow (an index that every import rebuilds in vain) a run would
# otherwise take CI's whole hour. A healthy run on 2 cores takes well under half of it.
TIME_LIMIT_S = float(os.environ.get("CHATBOT_TEST_FUZZ_TIME_LIMIT_S", "240"))


def scale() -> float:
    return float(os.environ.get("CHATBOT_TEST_FUZZ_SCALE", "1"))


def scaled(budget: int) -> int:
    return max(1, round(budget * scale()))


def fuzz_settings(max_examples: int) -> settings:
    """Derandomized (the same inputs every run), no example database, no deadline (a request
    to a real server has no fixed cost), and no shrinking: problems are collected, not raised,
    so that one run reports every kind (see fuzz_problems)."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example, HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much])
