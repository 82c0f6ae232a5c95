"""`chatbot eval`'s metrics in the seeds' terms, on hand-made results whose values are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.evaluation.report import format_text, write_html_report
from chatbot.evaluation.cases import Case, CaseResult
from chatbot.evaluation.run import compute_metrics

DESIGN_KEYS = ["n", "hit@1", "hit@k", "mrr", "abstain_precision", "abstain_recall", "answered_accuracy",
               "p50_ms", "p95_ms"]


def result(expected: str | None, ranked: list[str], abstained: bool, score: float = 0.5) -> CaseResult:
    return CaseResult(Case("q", expected, 1), ranked, abstained, 10.0, score)


RESULTS = [
    result("a", ["a", "b"], False, 0.9),  # right
    result("a", ["a"], False, 0.8),  # right
    result("a", ["b", "a"], False, 0.7),  # wrong: a -> b
    result("a", ["a"], True, 0.3),  # abstained: a -> abstain (a miss, not a wrong answer)
    result("b", ["b"], False, 0.85),  # right
    result("b", ["a"], False, 0.6),  # wrong: b -> a
    result(None, ["b"], False, 0.65),  # out of scope answered: wrong, abstain -> b
    result(None, ["a"], True, 0.2),  # out of scope abstained: right
]


def test_answer_and_wrong_answer_rates() -> None:
    m = compute_metrics(RESULTS, k=2)
    assert list(m)[:9] == DESIGN_KEYS
    assert m["answer_rate"] == 0.75  # 6 of 8 lines answered
    assert m["wrong_answer_rate"] == 0.5  # 3 of the 6 answers wrong, the out-of-scope one included
    assert m["wrong_answers_share_of_all"] == 0.375
    assert m["in_scope_answer_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert m["answered_accuracy"] == 0.5 and m["abstain_recall"] == 0.5 and m["abstain_precision"] == 0.5


def test_per_entry_precision_recall_f1_and_confused_pairs() -> None:
    m = compute_metrics(RESULTS, k=2)
    rows = {row["id"]: row for row in m["per_entry"]}
    assert set(rows) == {"a", "b"}  # "abstain" is a label, not an entry
    # a: predicted 3 times (2 right), expected 4 times (2 found); b: predicted 3 (1 right), expected 2.
    assert (rows["a"]["precision"], rows["a"]["recall"], rows["a"]["support"], rows["a"]["predicted"]) == \
        (pytest.approx(2 / 3, abs=1e-4), 0.5, 4, 3)
    assert rows["a"]["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), abs=1e-4)
    assert (rows["b"]["precision"], rows["b"]["recall"], rows["b"]["support"]) == (pytest.approx(1 / 3, abs=1e-4), 0.5, 2)
    assert m["macro_precision"] == pytest.approx(0.5, abs=1e-4) and m["macro_recall"] == 0.5
    assert m["macro_f1"] == pytest.approx((rows["a"]["f1"] + rows["b"]["f1"]) / 2, abs=1e-4)
    assert m["confused_pairs"] == [{"expected": "a", "predicted": "b", "count": 1},
                                   {"expected": "abstain", "predicted": "b", "count": 1},
                                   {"expected": "b", "predicted": "a", "count": 1}]


def test_only_abstentions_give_zero_rates_not_errors() -> None:
    m = compute_metrics([result(None, [], True), result("a", ["a"], True)], k=1)
    assert m["answer_rate"] == 0.0 and m["wrong_answer_rate"] == 0.0
    assert [row["id"] for row in m["per_entry"]] == ["a"] and m["per_entry"][0]["recall"] == 0.0


def test_text_summary_and_html_report(tmp_path: Path) -> None:
    metrics = {**compute_metrics(RESULTS, k=2), "answer_threshold": 0.62, "threshold_rule": "target"}
    text = format_text(metrics)
    assert "answered 75.0% of all questions; wrong answers 50.0% of the answered (37.5% of all)" in text
    assert "answer threshold 0.6200 (target)" in text
    worst = text.split("worst entries by F1\n")[1].splitlines()
    assert worst[0].split() == ["entry", "F1", "precision", "recall", "expected", "predicted"]
    assert worst[1].split()[0] == "b"  # lowest F1 first
    confused = [line.split() for line in text.split("(expected -> answered with)\n")[1].splitlines()]
    assert confused == [["expected", "predicted", "count"], ["a", "b", "1"], ["abstain", "b", "1"], ["b", "a", "1"]]

    page = write_html_report(tmp_path / "report.html", metrics, RESULTS).read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<svg" in page and "threshold 0.620" in page
    assert page.count('class="bar"') == 2 and "right entry on top" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
