"""The fine-tuning data set (real embedder, real SQLite), its split, metrics and the training plan.

No generative model is loaded here: see test_finetune_run.py for the real training runs.
"""

from __future__ import annotations

import pytest
from faq_services import services_with_faq

from chatbot.finetune.dataset import (
    build_examples,
    data_hash,
    language_counts,
    split_phrasings,
    target_answer,
)
from chatbot.finetune.metrics import agrees, answer_metrics, normalise_answer
from chatbot.finetune.training import TrainingPlan, TrainOptions, training_plan
from chatbot.messages import GenerationRequest
from chatbot.services import Services
from chatbot.stages.prompts import build_messages
from knowledge_base.embedding.devices import DeviceChoice, resolve_device
from knowledge_base.entries import Entry

FAQ = """id,question,alternates,answer,language
ship-time,How long does shipping take?,When will my order arrive?|delivery time|how many days to ship,"Standard shipping takes 3-5 business days.
Express is faster.",en
returns,Can I return an item?,What is your return policy?|I want to send something back,You can return items within 30 days.,en
returns-zh,可以退货吗？,退货政策是什么？|我想退回商品|怎么退货,收货后30天内可以退货。,zh
"""

ENTRIES = [
    Entry(f"e{i}", f"Question {i}?", f"Answer {i}.", alternates=[f"Other wording {i}.{j}" for j in range(4)])
    for i in range(10)
]


# ---- the split ----


def test_holdout_takes_alternates_only_and_the_share_asked_for() -> None:
    split = split_phrasings(ENTRIES, holdout=0.2, seed=0)
    assert len(split.train) + len(split.heldout) == 50 and len(split.heldout) == 10
    assert not {text for _, text in split.heldout} & {text for _, text in split.train}
    assert all(text.startswith("Other wording") for _, text in split.heldout)  # main questions train
    assert {entry.id for entry, _ in split.heldout} <= {entry.id for entry, _ in split.train}


def test_split_is_seeded_and_ignores_entry_order() -> None:
    first = split_phrasings(ENTRIES, 0.2, seed=1)
    assert split_phrasings(list(reversed(ENTRIES)), 0.2, seed=1) == first
    assert split_phrasings(ENTRIES, 0.2, seed=2).heldout != first.heldout
    assert split_phrasings(ENTRIES, 0.0, seed=1).heldout == []


def test_max_examples_keeps_the_share_and_holds_out_trained_entries() -> None:
    split = split_phrasings(ENTRIES, holdout=0.25, seed=0, max_examples=8)
    assert (len(split.train), len(split.heldout)) == (6, 2)
    assert {entry.id for entry, _ in split.heldout} <= {entry.id for entry, _ in split.train}


@pytest.mark.parametrize("holdout", [-0.1, 1.0, 2.0])
def test_a_bad_holdout_is_refused(holdout: float) -> None:
    with pytest.raises(ValueError, match="holdout must be"):
        split_phrasings(ENTRIES, holdout)
    with pytest.raises(ValueError, match="max_examples"):
        split_phrasings(ENTRIES, 0.2, max_examples=0)


# ---- examples built through the engine ----


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """One KB for the module (read only by these tests), in its own data folder."""
    home = tmp_path_factory.mktemp("finetune-data")
    # The English model: quick to load, and a phrasing of the KB finds itself at cosine 1.0
    # whatever its language.
    return services_with_faq(home / "home", FAQ, embedding_model="all-MiniLM-L6-v2", top_k=2)


def test_examples_are_prompted_as_the_engine_prompts_in_every_language(services: Services) -> None:
    entries = services.knowledge_base.list_entries()
    split = split_phrasings(entries, holdout=0.25, seed=0)
    train, skipped = build_examples(services.engine, split.train)
    heldout, _ = build_examples(services.engine, split.heldout)
    assert not skipped and len(train) == len(split.train) and len(heldout) == len(split.heldout) == 3
    for example in train + heldout:
        decision = services.engine.decide(example.phrasing)
        expected = GenerationRequest(decision.checked.text, decision.language, decision.hits, [],
                                     services.settings.max_new_tokens)
        assert example.request == expected  # the engine's own retrieval, language and settings
        assert example.messages == build_messages(expected)
        number = int(example.target.rsplit("[", 1)[1].rstrip("]"))
        assert example.request.hits[number - 1].entry.id == example.entry_id
        assert len(example.request.hits) == 2  # the top_k setting
    chinese = [ex for ex in train if ex.entry_id == "returns-zh"]
    assert chinese and all(ex.language == "zh" for ex in chinese)
    assert "Reply in Chinese." in chinese[0].messages[0]["content"]
    assert chinese[0].target.startswith("收货后30天内可以退货。")
    shipping = next(ex for ex in train if ex.entry_id == "ship-time")
    assert "\n" not in shipping.target  # the generator stops at a newline
    # Each example's language is the engine's detection ("delivery time" may read as Danish).
    assert set(language_counts(train, heldout)) >= {"en", "zh"}


def test_data_hash_covers_prompts_and_targets_not_order(services: Services) -> None:
    entries = services.knowledge_base.list_entries()
    train, _ = build_examples(services.engine, [(e, e.question) for e in entries])
    digest = data_hash(train, [])
    assert len(digest) == 64 and data_hash(list(reversed(train)), []) == digest
    assert data_hash(train[1:], train[:1]) != digest  # the split is part of the data


def test_a_phrasing_the_engine_would_not_answer_is_skipped(services: Services) -> None:
    entry = services.knowledge_base.get("returns")
    unanswerable = [(entry, "What is the capital of Peru?"), (entry, "")]
    examples, skipped = build_examples(services.engine, unanswerable)
    assert examples == []
    assert sum(skipped.values()) == 2 and "refused by the guard" in skipped


# ---- metrics ----


def test_answers_agree_after_normalisation() -> None:
    expected = target_answer("You can return items\nwithin 30 days.", 1)
    assert expected == "You can return items within 30 days. [1]"
    assert normalise_answer("Ｙou CAN return, [2] items!") == "you can return items"
    assert agrees("you can return items within 30 days", expected)
    assert agrees("Sure! You can return items within 30 days [1]. Thanks.", expected)
    assert not agrees("You can return items within 60 days.", expected)
    assert not agrees("", expected) and not agrees("anything", "")
    assert agrees("好的，收货后30天内可以退货。[1]", "收货后30天内可以退货。 [1]")


def test_answer_metrics(services: Services) -> None:
    entry = services.knowledge_base.get("returns")
    examples, _ = build_examples(services.engine, [(entry, entry.question)] * 2)
    metrics = answer_metrics(["You can return items within 30 days. [1]", "Within 90 days."], examples)
    assert metrics == {"n": 2, "exact_answer": 0.5, "grounded_rate": 0.5, "mean_answer_chars": 27.5}
    assert answer_metrics([], [])["exact_answer"] is None


# ---- the training plan: chosen from the device resolver ----


def test_cuda_trains_in_bf16_with_gradient_checkpointing() -> None:
    gpu = DeviceChoice("cuda", "bfloat16")
    assert training_plan(gpu, full=False) == TrainingPlan("cuda", "bfloat16", "bfloat16", True)
    assert training_plan(gpu, full=True) == TrainingPlan("cuda", "float32", "bfloat16", True)  # fp32 masters
    assert training_plan(DeviceChoice("cuda:1", "float16"), full=False).autocast_dtype is None
    assert training_plan(resolve_device("cpu"), full=False) == TrainingPlan("cpu", "float32", None, False)


def test_train_options_are_checked() -> None:
    assert TrainOptions().lr == 2e-4 and TrainOptions(full=True).lr == 2e-5
    for bad in (TrainOptions(steps=0), TrainOptions(epochs=0), TrainOptions(learning_rate=5.0),
                TrainOptions(lora_rank=0), TrainOptions(batch_size=0)):
        with pytest.raises(ValueError):
            bad.validate()
