"""The readable diff of two versions of an entry: word runs for text, whole values for short
fields, items for lists, a rewrite as old-out/new-in, long unchanged runs elided."""

from __future__ import annotations

from knowledge_base.entries import Entry
from knowledge_base.history_diff import FieldDiff, Span, as_json, as_text, diff_entries, diff_items, diff_text, elided


def ops(spans: list[Span]) -> list[tuple[str, str]]:
    return [(s.op, s.text) for s in spans]


def test_words_change_and_separated_changes_read_as_one() -> None:
    assert ops(diff_text("Ships in 3-5 days.", "Ships in 2-4 days.")) == [
        ("same", "Ships in "), ("delete", "3-5"), ("insert", "2-4"), ("same", " days.")]
    assert ops(diff_text("Hello", "Hello")) == [("same", "Hello")] and diff_text("", "") == []
    assert ops(diff_text("", "New.")) == [("insert", "New.")]


def test_a_rewrite_is_old_out_new_in() -> None:
    assert ops(diff_text("We accept Visa and PayPal.", "Cash only, sorry!")) == [
        ("delete", "We accept Visa and PayPal."), ("insert", "Cash only, sorry!")]


def test_fields_lists_and_renderings() -> None:
    before = Entry("a", "Can I return it?", "Within 30 days.", ["Send back?", "Refund?"], category="orders")
    after = Entry("a", "Can I return it?", "Within 60 days.", ["Refund?", "Exchange?"], category="returns",
                  url="https://x.example/r")
    diffs = diff_entries(before, after)
    assert [d.field for d in diffs] == ["answer", "alternates", "category", "url"]
    assert ops(diffs[1].spans) == [("delete", "Send back?"), ("same", "Refund?"), ("insert", "Exchange?")]
    assert ops(diffs[2].spans) == [("delete", "orders"), ("insert", "returns")]  # short fields: whole
    assert as_text(diffs[0]) == "answer: Within [-30-]{+60+} days."
    assert as_text(diffs[1]) == "alternates:\n  - Send back?\n    Refund?\n  + Exchange?"
    assert as_json(diffs[3]) == {"field": "url", "kind": "text", "spans": [{"op": "insert", "text": "https://x.example/r"}]}
    assert [d.field for d in diff_entries(None, before)] == ["question", "answer", "alternates", "category"]
    assert diff_entries(before, before) == [] and ops(diff_items([], ["t"])) == [("insert", "t")]


def test_long_unchanged_text_is_elided_around_the_change() -> None:
    long = "word " * 100
    spans = elided(diff_text(long + "old. " + long, long + "new. " + long))
    assert [s.op for s in spans] == ["same", "delete", "insert", "same"]
    assert spans[0].text.startswith("…") and len(spans[0].text) == 81 and spans[-1].text.endswith("…")
    assert as_text(FieldDiff("answer", "text", [Span("same", "short")])) == "answer: short"
