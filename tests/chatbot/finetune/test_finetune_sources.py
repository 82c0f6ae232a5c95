"""Where fine-tuning examples come from besides the KB's phrasings: logged turns that staff approved
or corrected (trained on) and evaluation sets of held-out paraphrases (measured); and the held-out
answers generated concurrently where the model batches.

Real parts: the English embedder, a real SQLite store, turns logged through the engine (the
extractive generator: the answers are the KB's own, so the logged ones are known), labels stored
through the services; the concurrency test runs the shipped SmolLM2 (slow).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from faq_services import services_with_faq

from chatbot.evaluation.cases import TestSetError
from chatbot.finetune.dataset import Example, approved_turn_examples, build_examples
from chatbot.finetune.evalset import eval_set_examples, load_eval_cases
from chatbot.finetune.metrics import (
    concurrent_requests,
    generate_answers,
    metrics_by_language,
)
from chatbot.finetune.pipeline import (
    FinetuneError,
    FinetuneOptions,
    build_finetune_data,
)
from chatbot.generators.batching import BatchingOptions
from chatbot.generators.local import LocalGenerator
from chatbot.services import Services

FAQ = """id,question,alternates,answer,language
ship-time,How long does shipping take?,When will my order arrive?|delivery time,Standard shipping takes 3-5 business days.,en
returns,Can I return an item?,What is your return policy?|I want to send something back,You can return items within 30 days.,en
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,We accept Visa and PayPal.,en
returns-zh,可以退货吗？,退货政策是什么？|我想退回商品,收货后30天内可以退货。,zh
"""
OFF_TOPIC = "What is the capital of Peru?"  # no entry is near it: the engine abstains


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return services_with_faq(tmp_path / "home", FAQ, embedding_model="all-MiniLM-L6-v2", top_k=2,
                             answer_threshold=0.5)


def log_turn(services: Services, text: str) -> int:
    """Ask the engine as a customer does; the id of the logged turn."""
    services.engine.respond(None, text)
    return services.conversations.recent_turns(1)[0].turn_id


def number_of(example: Example, entry_id: str) -> int:
    return next(n for n, hit in enumerate(example.request.hits, start=1) if hit.entry.id == entry_id)


# ---- logged turns staff approved or corrected ----


def test_approved_and_corrected_turns_become_training_examples(services: Services) -> None:
    approved = log_turn(services, "When will my order arrive?")
    corrected = log_turn(services, "What is your return policy?")
    out_of_scope = log_turn(services, "Do you take credit cards?")
    not_reviewed = log_turn(services, "Can I pay with PayPal?")
    services.label_turn(approved, "ship-time", "approved")
    # Staff cite with their own numbering; the example cites the entry's number in today's prompt.
    services.label_turn(corrected, "returns", "corrected", "Unused items can be returned within 30 days [2].\n"
                                                           "Keep the receipt.")
    services.label_turn(out_of_scope, None, "approved")
    services.label_turn(not_reviewed, "payment")  # labelled for calibration only: not a review

    examples, skipped = approved_turn_examples(services.conversations, services.engine)
    assert [ex.entry_id for ex in examples] == ["ship-time", "returns"]
    assert all(ex.source == "turn" for ex in examples)
    shipping, returns = examples
    # approved: the answer the bot logged (the extractive one: the entry's own text)
    assert shipping.phrasing == "When will my order arrive?"
    assert shipping.target == f"Standard shipping takes 3-5 business days. [{number_of(shipping, 'ship-time')}]"
    # corrected: the staff's text, on one line, their [2] replaced by today's number
    assert returns.target == ("Unused items can be returned within 30 days. Keep the receipt. "
                              f"[{number_of(returns, 'returns')}]")
    # The prompt is the one a KB phrasing gets: the engine's retrieval and settings of today.
    entry = services.knowledge_base.get("returns")
    reference, _ = build_examples(services.engine, [(entry, "What is your return policy?")])
    assert returns.request == reference[0].request
    assert skipped == Counter({"labelled out of scope": 1})


def test_turns_that_cannot_teach_an_answer_are_skipped_and_counted(services: Services) -> None:
    abstained = log_turn(services, OFF_TOPIC)
    held_out = log_turn(services, "I want to send something back")
    corrected_abstention = log_turn(services, OFF_TOPIC)
    # Stored in the log only: through `Services.label_turn` the labelled questions would become
    # phrasings of "returns" (chatbot.staff.learning) and the engine would answer them from then on.
    label = services.conversations.label_turn
    label(abstained, "returns", "approved")  # its reply was the canned abstention
    label(held_out, "returns", "approved")
    # A correction of a question the engine abstains on today: nothing it would generate for.
    label(corrected_abstention, "returns", "corrected", "You can return items within 30 days.")

    examples, skipped = approved_turn_examples(services.conversations, services.engine,
                                               exclude=["i want to SEND something back "])
    assert examples == []
    assert skipped == Counter({"approved a reply that was not an answer": 1, "a held-out question": 1,
                               "below the answer threshold": 1})


def test_no_labelled_turns_no_examples(services: Services) -> None:
    log_turn(services, "When will my order arrive?")
    assert approved_turn_examples(services.conversations, services.engine) == ([], Counter())


# ---- evaluation sets ----


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_eval_set_queries_become_held_out_examples(services: Services, tmp_path: Path) -> None:
    english = write_jsonl(tmp_path / "en.jsonl", [
        {"query": "how many days until my package shows up", "expected_id": "ship-time"},
        {"query": "Tell me a joke", "expected_id": None},
        {"query": "Can I pay with PayPal?", "expected_id": "payment"},  # a KB phrasing: trained on
        {"query": "do you accept crypto wallets", "expected_id": "no-such-entry"},
        {"query": OFF_TOPIC, "expected_id": "returns"},
        {"query": "beyond the limit", "expected_id": "returns"},
    ])
    chinese = write_jsonl(tmp_path / "zh.jsonl", [{"query": "退货政策是什么？", "expected_id": "returns-zh"}])
    cases = load_eval_cases([english, chinese], limit=5)
    assert [case.query for case in cases][-1] == "退货政策是什么？" and len(cases) == 6

    entries = services.knowledge_base.list_entries()
    trained = ["Can I pay with PayPal?", "How long does shipping take?"]
    examples, skipped = eval_set_examples(services.engine, entries, cases, trained)
    assert [(ex.entry_id, ex.source) for ex in examples] == [("ship-time", "eval"), ("returns-zh", "eval")]
    assert examples[0].target == f"Standard shipping takes 3-5 business days. [{number_of(examples[0], 'ship-time')}]"
    assert examples[1].language == "zh" and examples[1].target.startswith("收货后30天内可以退货。")
    assert skipped == Counter({"out of scope": 1, "also a trained phrasing": 1, "expected entry not in the KB": 1,
                               "below the answer threshold": 1})


def test_a_bad_eval_set_is_refused_naming_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"query": "fine", "expected_id": "a"}\n{"query": 3}\n', encoding="utf-8")
    with pytest.raises(TestSetError, match="broken.jsonl:2"):
        load_eval_cases([broken])
    with pytest.raises(TestSetError, match="cannot read"):
        load_eval_cases([tmp_path / "missing.jsonl"])
    with pytest.raises(ValueError, match="at least 1"):
        load_eval_cases([broken], limit=0)


def test_finetune_data_trains_on_every_phrasing_and_turns_and_measures_the_eval_set(
        services: Services, tmp_path: Path) -> None:
    turn = log_turn(services, "Do you take credit cards?")
    services.label_turn(turn, "payment", "corrected", "We accept Visa, Mastercard and PayPal.")
    eval_set = write_jsonl(tmp_path / "eval.jsonl", [
        {"query": "how many days until my package shows up", "expected_id": "ship-time"},
        {"query": "Do you take credit cards?", "expected_id": "payment"},  # a KB phrasing
        {"query": "is returning stuff possible", "expected_id": "returns"},
    ])
    data = build_finetune_data(services, FinetuneOptions(eval_sets=(eval_set,), eval_limit=2))
    phrasings = sum(len(entry.phrasings) for entry in services.knowledge_base.list_entries())
    assert len(data.train) == phrasings + 1 and data.approved_turns == 1  # no phrasing held out
    assert data.train[-1].source == "turn" and data.train[-1].target.startswith("We accept Visa, Mastercard")
    assert [ex.phrasing for ex in data.heldout] == ["how many days until my package shows up"]
    assert (data.eval_examples, data.eval_skipped) == (1, Counter({"also a trained phrasing": 1}))

    # Without an evaluation set the default split holds out a share of the phrasings, as before.
    default = build_finetune_data(services, FinetuneOptions())
    assert default.heldout and all(ex.source == "kb" for ex in default.heldout) and default.eval_examples == 0


def test_finetune_data_refuses_an_eval_set_it_cannot_use(services: Services, tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="evaluation set: .*missing.jsonl"):
        build_finetune_data(services, FinetuneOptions(eval_sets=(tmp_path / "missing.jsonl",)))
    useless = write_jsonl(tmp_path / "oos.jsonl", [{"query": "Tell me a joke", "expected_id": None}])
    with pytest.raises(FinetuneError, match="no query of the evaluation set can be measured"):
        build_finetune_data(services, FinetuneOptions(eval_sets=(useless,)))


def test_metrics_by_language(services: Services) -> None:
    pairs = [(services.knowledge_base.get(i), services.knowledge_base.get(i).question) for i in ("returns", "returns-zh")]
    examples, _ = build_examples(services.engine, pairs)
    by_language = metrics_by_language(["You can return items within 30 days.", "不知道"], examples)
    assert by_language["en"]["exact_answer"] == 1.0 and by_language["zh"]["exact_answer"] == 0.0
    assert by_language["en"]["n"] == by_language["zh"]["n"] == 1


# ---- held-out answers generated concurrently ----


class InFlight:
    """Passes each request to the real generator and records how many were in flight at once."""

    def __init__(self, generator: LocalGenerator) -> None:
        self.generator = generator
        self.peak = self._now = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:  # warm_up, batched, batching: the generator's own
        return getattr(self.generator, name)

    def generate(self, request):  # noqa: ANN001, ANN201 - the AnswerWriter protocol
        with self._lock:
            self._now += 1
            self.peak = max(self.peak, self._now)
        try:
            return self.generator.generate(request)
        finally:
            with self._lock:
                self._now -= 1


@pytest.mark.slow
def test_held_out_answers_are_generated_together_in_order(services: Services, converted_models: Path) -> None:
    entries = services.knowledge_base.list_entries()
    examples, _ = build_examples(services.engine, [(e, e.question) for e in entries if e.language == "en"])
    batched = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=12,
                             batching=BatchingOptions(max_batch_size=4, cache_tokens=4096))
    alone = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=12, batching=None)
    try:
        recorder = InFlight(batched)
        answers = generate_answers(recorder, examples, "held-out answers", progress=True)
        assert concurrent_requests(batched) == 4 and concurrent_requests(alone) == 1
        assert recorder.peak == len(examples) == 3  # all submitted together: one batch
        # Greedy: the same answers, in the examples' order, as one request at a time.
        assert answers == [alone.generate(ex.request) for ex in examples]
        assert all(answers)
    finally:
        batched.close()
