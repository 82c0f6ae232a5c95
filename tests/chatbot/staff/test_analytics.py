"""The analytics service over a log made by the real engine (demo KB, real embedder, extractive
generator), on a real SQLite file and a real PostgreSQL database: every count and rate exactly
as counted by hand (`analytics_log.SMALL_LOG_EXPECTED`), days cut at UTC midnight, a channel
filter, an empty range, and clear errors for a bad range."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from analytics_log import SMALL_LOG_EXPECTED, small_log
from faq_services import services_with_faq
from live_server import module_home
from pg_server import create_database, drop_database

from chatbot.errors import InvalidInput
from chatbot.services import DEMO_KB, Services
from chatbot.staff.analytics import DECISIONS, MAX_DAYS, analytics_window, parse_day

FIRST = date(2026, 3, 1)
LAST = FIRST + timedelta(days=2)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, dict]]:
    """Services with the small log, on each database (one log per module and database)."""
    database: dict[str, str] = {}
    name = f"analytics_{uuid.uuid4().hex[:12]}"
    if request.param == "postgresql":
        admin_url = request.getfixturevalue("postgres_url")
        database["database_url"] = create_database(admin_url, name)
    with module_home(tmp_path_factory.mktemp(f"analytics-{request.param}")) as home:
        services = services_with_faq(home, DEMO_KB.read_text(encoding="utf-8"), filename="faq.jsonl", **database)
        try:
            yield services, small_log(services, FIRST)
        finally:
            services.database.dispose()
            if database:
                drop_database(admin_url, name)


def test_counts_and_rates_are_exactly_the_logs(logged: tuple[Services, dict]) -> None:
    services, made = logged
    report = services.analytics(FIRST, LAST)
    expected = SMALL_LOG_EXPECTED
    assert [d.day for d in report.days] == [FIRST, FIRST + timedelta(days=1), LAST]
    assert [d.conversations for d in report.days] == expected["conversations_per_day"]
    assert [{k: v for k, v in d.turns.items() if v} for d in report.days] == expected["turns_per_day"]
    assert all(set(d.turns) == set(DECISIONS) for d in report.days)
    data = report.to_dict()
    assert data["resolution"] == expected["resolution"]
    assert data["deflection"] == expected["deflection"]
    assert data["feedback"] == expected["feedback"]
    assert [(r.key, r.count) for r in report.top_unanswered] == expected["top_unanswered"]
    assert report.top_unanswered[1].label == "What is the capital of Peru?"  # shown as asked
    assert [(r.key, r.count) for r in report.languages] == expected["languages"]
    assert data["latency"] == {**expected["latency"], "edges_ms": [100, 250, 500, 1000, 2000, 5000]}
    top = [(r.key, r.count) for r in report.top_entries]
    assert top[0] == ("shipping-times", 2)
    assert sorted(top[1:]) == sorted([("returns-how-to", 1), (made["chosen"], 1)])
    assert report.top_entries[0].label == services.knowledge_base.get("shipping-times").question


def test_a_channel_and_a_single_day_count_only_theirs(logged: tuple[Services, dict]) -> None:
    services, _ = logged
    api = services.analytics(FIRST, LAST, channel="api").to_dict()
    assert [d["conversations"] for d in api["days"]] == [0, 1, 0]
    assert api["resolution"] == {"answered": 0, "clarified": 1, "clarified_chosen": 0, "abstained": 0,
                                 "handed_off": 1, "questions": 2, "rate": 0.0}
    assert api["deflection"] == {"conversations": 1, "reached_human": 1, "rate": 0.0}
    assert api["feedback"] == {"up": 0, "down": 0, "ratio": None}
    assert api["channel"] == "api" and services.analytics_channels() == ["api", "web"]
    # The first day ends at 23:59:59 UTC: the abstention at 23:59 is in it, the clarification at 00:00 not.
    first = services.analytics(FIRST, FIRST)
    assert [d.conversations for d in first.days] == [3]
    assert first.resolution.abstained == 1 and first.resolution.clarified == 0
    assert first.latency.turns == 3


def test_an_empty_range_has_zeros_and_no_rates(logged: tuple[Services, dict]) -> None:
    services, _ = logged
    report = services.analytics(date(2025, 1, 1), date(2025, 1, 31))
    assert len(report.days) == 31 and report.empty
    assert all(d.conversations == 0 and not any(d.turns.values()) for d in report.days)
    assert (report.resolution.rate, report.deflection.rate, report.feedback.ratio) == (None, None, None)
    assert (report.latency.p50_ms, report.latency.p95_ms, report.latency.histogram) == (None, None, [0] * 7)
    assert report.top_entries == report.top_unanswered == report.languages == []


def test_bad_ranges_are_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="starts .* after it ends"):
        analytics_window(date(2026, 3, 2), date(2026, 3, 1), None)
    with pytest.raises(InvalidInput, match=f"at most {MAX_DAYS}"):
        analytics_window(date(2024, 1, 1), date(2026, 1, 1), None)
    with pytest.raises(InvalidInput, match="at most 32 characters"):
        analytics_window(None, None, "x" * 33)
    with pytest.raises(InvalidInput, match="must be a day like 2026-11-01"):
        parse_day("yesterday", "start")
    window = analytics_window(None, None, " ", today=date(2026, 3, 31))
    assert (window.start, window.end, window.channel) == (date(2026, 3, 2), date(2026, 3, 31), None)
    assert parse_day("", "end") is None and parse_day("2026-03-01", "end") == FIRST
