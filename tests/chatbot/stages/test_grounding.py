"""The grounding check's rules (no model), its numbers, and the optional NLI step (MiniLM with a
fresh classification head stands in for an NLI model: none ships)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatbot.stages.grounding import GroundingChecker, check_grounding, citation_numbers, content_terms
from chatbot.stages.nli import NliModel
from chatbot.stages.numbers import chinese_numeral_value, stated_numbers
from knowledge_base.embedding.embedder import resolve_model_path
from knowledge_base.entries import Entry
from knowledge_base.retrieval.retriever import Hit

DEMO_KB = Path(__file__).resolve().parents[3] / "knowledge_base" / "demo" / "shop_faq.jsonl"


def hit(entry_id: str, question: str, answer: str, language: str = "en", alternates: tuple = ()) -> Hit:
    entry = Entry(entry_id, question, answer, list(alternates), language=language)
    return Hit(entry=entry, score=0.8, phrasing=question)


RETURNS = hit("returns", "Can I return an item?", "You can return items within 30 days of delivery for a full refund.",
              alternates=("What is your return policy?",))
EXPRESS = hit("express", "How fast is express shipping?", "Express shipping arrives in 1-2 business days for $14.99.")
PROMO = hit("promo", "Do you have a discount?", "New newsletter subscribers get a 10% off code for their first order.")
RETURNS_ZH = hit("returns-zh", "可以退货吗？", "收货后30天内可以退货，退款会在5个工作日内到账。", "zh")
HITS = [RETURNS, EXPRESS, PROMO]


@pytest.mark.parametrize(("answer", "number"), [
    ("You can return items within 45 days of delivery [1].", "45"),  # digits
    ("You can return items within forty-five days of delivery [1].", "45"),  # spelled out
    ("Express shipping arrives in 1-2 business days for $15.99 [2].", "15.99"),  # an amount
    ("New newsletter subscribers get a 20% off code for their first order [3].", "20"),  # a percentage
    ("You can return items within 30 days, refunds take 2 weeks [1].", "2"),  # a duration
])
def test_a_number_that_is_not_in_the_cited_entry_fails(answer: str, number: str) -> None:
    result = check_grounding(answer, HITS)
    assert not result.grounded
    assert result.unsupported_numbers == (number,)
    assert f"number {number} is not in the cited entries" in result.reasons


def test_a_number_from_another_entry_does_not_count() -> None:
    # 14.99 is in entry [2], but the answer cites [1].
    assert check_grounding("Returns within 30 days cost $14.99 [1].", HITS).unsupported_numbers == ("14.99",)
    result = check_grounding("You can return items within 60 days [1].", HITS)
    assert result.unsupported_numbers == ("60",)


@pytest.mark.parametrize("answer", [
    "You can return items within 30 days of delivery for a full refund [1].",
    "Items can be returned within thirty days of delivery [1].",  # spelled out, same value
    "Yes, within 30 days of delivery you can return your shoes for a full refund.",  # no citation: [1]
    "Express shipping costs $14.99 and arrives in 1-2 business days [2].",
    "You get a full refund within 30 days [1]; express takes 1-2 business days [2].",
])
def test_faithful_answers_pass(answer: str) -> None:
    result = check_grounding(answer, HITS)
    assert result.grounded, result.reasons
    assert result.reasons == () and result.unsupported_numbers == ()


def test_a_citation_of_a_missing_entry_fails() -> None:
    result = check_grounding("You can return items within 30 days of delivery [4].", HITS)
    assert not result.grounded and result.invalid_citations == (4,)
    assert result.reasons == ("cites [4], but only 3 entries were given",)
    assert check_grounding("Returns within 30 days of delivery [0].", HITS).invalid_citations == (0,)
    both = check_grounding("Returns within 30 days of delivery [1, 2].", HITS)
    assert both.grounded and both.cited == (1, 2)


def test_a_bracketed_number_quoted_from_an_entry_is_not_a_citation() -> None:
    footnote = hit("fn", "Warranty?", "Electronics have a 1-year warranty [12].")
    assert check_grounding("Electronics have a 1-year warranty [12].", [footnote]).grounded


def test_an_unrelated_answer_fails_on_its_terms() -> None:
    result = check_grounding("Our stores open at dawn and sell fresh bread and coffee [1].", HITS)
    assert not result.grounded and result.overlap < 0.6
    assert "of the answer's terms are in the cited entries" in result.reasons[0]
    assert check_grounding("Our stores sell bread [1].", HITS, min_overlap=0.0).grounded
    with pytest.raises(ValueError, match="min_overlap"):
        check_grounding("x", HITS, min_overlap=1.5)


def test_an_empty_answer_or_one_without_content_fails() -> None:
    result = check_grounding("  ", HITS)
    assert not result.grounded and result.reasons == ("the answer is empty",)
    for answer in ("No, no, no, no.", "Yes! [1]"):
        result = check_grounding(answer, HITS)
        assert not result.grounded and result.overlap == 0.0


def test_an_entry_answer_word_for_word_passes_even_without_content_terms() -> None:
    terse = hit("terse", "Is there a fee?", "No.")
    assert check_grounding("No.", [terse]).grounded
    assert check_grounding("No [1].", [terse]).grounded
    assert not check_grounding("No [2].", [terse]).grounded


def test_chinese_answers_are_checked_by_numbers_and_character_pairs() -> None:
    zh = [RETURNS_ZH]
    assert check_grounding("您可以在收货后30天内退货[1]。", zh, language="zh").grounded
    assert check_grounding("收货后三十天内可以退货，五个工作日内退款到账。", zh, language="zh").grounded
    fabricated = check_grounding("收货后四十五天内可以退货[1]。", zh, language="zh")
    assert not fabricated.grounded and fabricated.unsupported_numbers == ("45",)
    digits = check_grounding("收货后60天内可以退货。", zh, language="zh")
    assert digits.unsupported_numbers == ("60",)
    unrelated = check_grounding("我们的门店每天早上八点开门，欢迎光临。", zh, language="zh")
    assert not unrelated.grounded and unrelated.overlap < 0.6
    assert {"退货", "可以"} <= content_terms("可以退货")


def test_every_extractive_answer_of_the_demo_kb_passes() -> None:
    entries = [Entry(**json.loads(line)) for line in DEMO_KB.read_text(encoding="utf-8").splitlines()]
    assert len(entries) > 100 and {e.language for e in entries} == {"en", "zh"}
    for entry in entries:
        result = check_grounding(entry.answer, [Hit(entry, 0.9, entry.question)], language=entry.language)
        assert result.grounded, (entry.id, result.reasons)


def test_citation_numbers() -> None:
    assert citation_numbers("See [2] and [1][2], also [3, 4] but not [x] or [12345].") == [2, 1, 3, 4]
    assert citation_numbers("no citations") == []


# ---- numbers ----

@pytest.mark.parametrize(("text", "expected"), [
    ("Refunds take 3-5 business days (3–5 for cards).", {"3", "5"}),
    ("$14.99, $14.90 and 1,000 or 1000 items", {"14.99", "14.9", "1000"}),
    ("10% off, twenty-four hours, one hundred and twenty dollars", {"10", "24", "120"}),
    ("Call 1-800-555-0199 [2]", {"1", "800", "555", "199"}),
    ("the blue one, a second charge, Thirty days", {"30"}),  # "one" and "second" are words here
    ("３０天，百分之十，两周，一个工作日，二〇二四年，一百零五元", {"30", "10", "2", "1", "2024", "105"}),
    ("请稍等一下，统一处理一些商品，万一有问题", set()),  # 一 as "a", "unified", "in case"
    ("no numbers here", set()),
])
def test_stated_numbers(text: str, expected: set[str]) -> None:
    assert stated_numbers(text) == expected


def test_the_liberal_reading_of_entries_finds_more() -> None:
    text = "the blue one, a second charge, 请稍等一下"
    assert stated_numbers(text, strict=False) == {"1", "2"}
    assert stated_numbers("Trente jours", "fr") == {"30"}
    assert stated_numbers("thirty", "xx") == set()  # a language text2num does not read


def test_chinese_numeral_values() -> None:
    cases = {"十": 10, "十五": 15, "三十": 30, "一百零五": 105, "两千": 2000, "三万五千": 35000, "二〇二四": 2024}
    assert {run: chinese_numeral_value(run) for run in cases} == cases
    with pytest.raises(ValueError, match="not a Chinese numeral"):
        chinese_numeral_value("三x")


# ---- the optional NLI step ----

@pytest.fixture(scope="module")
def nli_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM's encoder with a new 3-way head labelled like an NLI model (its scores mean nothing:
    the test is of the plumbing, thresholds at 0 and 1)."""
    folder = tmp_path_factory.mktemp("nli") / "minilm-nli"
    shutil.copytree(resolve_model_path("all-MiniLM-L6-v2"), folder)
    config = json.loads((folder / "config.json").read_text())
    labels = {"0": "CONTRADICTION", "1": "ENTAILMENT", "2": "NEUTRAL"}
    config.update(architectures=["BertForSequenceClassification"], id2label=labels,
                  label2id={v: int(k) for k, v in labels.items()})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.slow
def test_nli_runs_only_after_the_rules_pass_and_can_fail_an_answer(nli_folder: Path) -> None:
    nli = NliModel(str(nli_folder), device="cpu")
    probability = nli.entailment(RETURNS.entry.answer, "You can return items within 30 days.")
    assert 0.0 < probability < 1.0
    faithful = "You can return items within 30 days of delivery [1]."
    lenient = GroundingChecker(nli=nli, nli_threshold=0.0).check(faithful, HITS)
    assert lenient.grounded and lenient.entailment == pytest.approx(probability, abs=0.05)
    strict = GroundingChecker(nli=nli, nli_threshold=1.0).check(faithful, HITS)
    assert not strict.grounded and "do not entail the answer" in strict.reasons[0]
    fabricated = GroundingChecker(nli=nli, nli_threshold=0.0).check("Within 45 days [1].", HITS)
    assert not fabricated.grounded and fabricated.entailment is None  # the rules already failed it


@pytest.mark.slow
def test_a_model_without_an_entailment_label_is_refused() -> None:
    with pytest.raises(ValueError, match="no single 'entailment' label"):
        NliModel(resolve_model_path("all-MiniLM-L6-v2"), device="cpu").warm_up()
    with pytest.raises(ValueError, match="nli_model is empty"):
        NliModel(" ")
