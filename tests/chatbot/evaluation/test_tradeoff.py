"""The answer/abstain decision at other thresholds, on hand-made results whose rates are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.evaluation.report import format_text, tradeoff_svg, write_html_report
from chatbot.evaluation.cases import Case, CaseResult
from chatbot.evaluation.run import compute_metrics
from chatbot.evaluation.tradeoff import operating_point, threshold_tradeoff, tradeoff_curve

THRESHOLD = 0.62


def result(expected: str | None, ranked: list[str], score: float) -> CaseResult:
    """A case decided the way the engine decides: answered when it has a hit scoring >= THRESHOLD."""
    return CaseResult(Case("q", expected, 1), ranked, not ranked or score < THRESHOLD, 10.0, score)


RESULTS = [
    result("a", ["a"], 0.9),  # right
    result("a", ["a", "b"], 0.8),  # right
    result("a", ["b", "a"], 0.7),  # wrong entry on top
    result("b", ["b"], 0.85),  # right
    result("b", ["a"], 0.6),  # wrong entry on top, abstained at 0.62
    result(None, ["b"], 0.65),  # out of scope, answered at 0.62
    result(None, ["a"], 0.2),  # out of scope, abstained
    result("a", [], 0.0),  # refused by the guard: no hits, never answered whatever the threshold
]


def test_the_rates_at_the_threshold_in_service_match_the_metrics() -> None:
    point = operating_point(RESULTS, THRESHOLD)
    metrics = compute_metrics(RESULTS, k=2)
    assert point.answer_rate == pytest.approx(5 / 8) == metrics["answer_rate"]
    assert point.wrong_answer_rate == pytest.approx(2 / 5) == metrics["wrong_answer_rate"]
    assert point.answered_correctly == pytest.approx(3 / 6) == metrics["answered_accuracy"]
    assert point.out_of_scope_abstained == pytest.approx(1 / 2) == metrics["abstain_recall"]


def test_a_lower_threshold_answers_more_and_more_wrongly_but_never_a_refused_message() -> None:
    point = operating_point(RESULTS, 0.0)
    assert point.answer_rate == pytest.approx(7 / 8)  # everything with a hit
    assert point.wrong_answer_rate == pytest.approx(4 / 7)
    assert point.answered_correctly == pytest.approx(3 / 6) and point.out_of_scope_abstained == 0.0


def test_each_wrong_rate_gets_the_lowest_threshold_that_keeps_to_it() -> None:
    rows = threshold_tradeoff(RESULTS, THRESHOLD, targets=(0.0, 0.3, 0.5, 0.05))
    # 0.05 needs the same threshold as 0.0 (0.8): one row for both
    assert [(r.threshold, r.in_service, r.targets) for r in rows] == [
        (0.6, False, (0.5,)), (THRESHOLD, True, ()), (0.7, False, (0.3,)), (0.8, False, (0.0, 0.05))]
    assert [r.wrong_answer_rate for r in rows] == pytest.approx([3 / 6, 2 / 5, 1 / 4, 0.0])
    assert [r.answer_rate for r in rows] == pytest.approx([6 / 8, 5 / 8, 4 / 8, 3 / 8])
    assert rows[-1].answered_correctly == pytest.approx(3 / 6) and rows[-1].out_of_scope_abstained == 1.0


def test_a_target_nothing_meets_is_left_out() -> None:
    always_wrong = [result(None, ["a"], 0.9), result("b", ["a"], 0.8)]
    assert [(r.in_service, r.targets) for r in threshold_tradeoff(always_wrong, 0.5, targets=(0.1,))] == [(True, ())]


def test_the_report_shows_the_trade_off_as_a_table_and_a_chart(tmp_path: Path) -> None:
    rows = [r.to_dict() for r in threshold_tradeoff(RESULTS, THRESHOLD, targets=(0.0, 0.02, 0.3))]
    metrics = {**compute_metrics(RESULTS, k=2), "answer_threshold": THRESHOLD, "threshold_rule": "target",
               "threshold_tradeoff": rows}
    table = format_text(metrics).split("(fitted on this test set, to show the trade-off)\n")[1].splitlines()
    assert table[1].split()[:4] == ["0.6200", "in", "service", "62.5%"]
    assert table[2].split()[:4] == ["0.7000", "<=", "30%", "50.0%"]
    assert table[3].split()[:4] == ["0.8000", "<=", "0%,", "2%"]

    curve = tradeoff_curve(RESULTS, points=11)
    assert curve[0].threshold == pytest.approx(0.2) and curve[-1].threshold == pytest.approx(0.9)
    assert [p.answer_rate for p in curve] == sorted((p.answer_rate for p in curve), reverse=True)
    svg = tradeoff_svg(RESULTS, THRESHOLD)
    assert svg.count("<polyline") == 4 and "in service 0.620" in svg
    page = write_html_report(tmp_path / "report.html", metrics, RESULTS).read_text(encoding="utf-8")
    assert "At other thresholds" in page and page.count("<polyline") == 4
    # Without out-of-scope questions there is no out-of-scope line to draw.
    assert tradeoff_svg([r for r in RESULTS if r.case.expected_id], THRESHOLD).count("<polyline") == 3
