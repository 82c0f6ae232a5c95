"""Prompt trimming with the real SmolLM2 tokenizer: what the model is fed stays within its budget.

Slow: the shipped GGUF is converted once per test session (about a minute and a half on a busy
2-core CPU), then loads in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot.generators.local import LocalGenerator
from chatbot.messages import ChatMessage, GenerationRequest
from chatbot.stages.prompts import PromptBudgetError, estimate_chat_tokens
from knowledge_base.entries import Entry
from knowledge_base.retrieval.retriever import Hit

pytestmark = pytest.mark.slow

DEMO_KB = Path(__file__).resolve().parents[3] / "knowledge_base" / "demo" / "shop_faq.jsonl"
MAX_NEW_TOKENS = 64


@pytest.fixture(scope="module")
def generator(converted_models: Path) -> LocalGenerator:
    local = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=MAX_NEW_TOKENS)
    local.warm_up()
    return local


@pytest.fixture(scope="module")
def request_() -> GenerationRequest:
    """Five long demo entries (English and Chinese) and three turns of history."""
    entries = [Entry(**json.loads(line)) for line in DEMO_KB.read_text(encoding="utf-8").splitlines()]
    hits = [Hit(entry, 0.9 - i / 100, entry.question) for i, entry in enumerate(entries[:5])]
    history = [ChatMessage(role, f"{role} {i}: " + "Where is my parcel? " * 20)
               for i in range(3) for role in ("user", "assistant")]
    return GenerationRequest("How do I track my order?", "en", hits, history, MAX_NEW_TOKENS)


def fed_tokens(generator: LocalGenerator, request: GenerationRequest) -> int:
    """How many tokens `generate` would feed the model for `request`: its prompt's chat encoded
    afresh, not the ids the prompt carries (checked against these below)."""
    return len(generator.encode_chat(generator.prompt(request).messages))


def test_the_window_is_the_models_own(generator: LocalGenerator) -> None:
    assert generator.context_window == 8192  # SmolLM2-135M's max_position_embeddings
    assert generator.count_tokens("How do I track my order?") == 7
    chat = [{"role": "user", "content": "hello"}]
    # The template's markers and the assistant prompt count too.
    assert generator.count_chat_tokens(chat) > generator.count_tokens("hello")


def test_what_the_model_is_fed_fits_every_window(generator: LocalGenerator, request_: GenerationRequest) -> None:
    whole = fed_tokens(generator, request_)
    assert generator.prompt(request_).entries == 5 and whole > 1000
    seen = []
    for window in range(whole + MAX_NEW_TOKENS, 0, -40):  # down to where even the rules do not fit
        request = GenerationRequest(request_.query, "en", request_.hits, request_.history, MAX_NEW_TOKENS, window)
        try:
            prompt = generator.prompt(request)
        except PromptBudgetError:
            break
        assert prompt.tokens == fed_tokens(generator, request) <= window - MAX_NEW_TOKENS  # real counts
        # The ids kept from trimming are the returned chat's, however much was trimmed.
        assert list(prompt.token_ids) == generator.encode_chat(prompt.messages)
        assert prompt.messages[-1] == {"role": "user", "content": request_.query}
        assert prompt.messages[0]["content"].startswith("You are a customer-service assistant.")
        seen.append((prompt.history, prompt.entries, prompt.truncated))
    else:
        pytest.fail("no window was too small")
    # History goes first (a turn at a time), then entries from the bottom, then the last answer
    # is cut; the top entry stays to the end.
    assert seen[0] == (6, 5, False) and seen[-1][:2] == (0, 1)
    assert [h for h, _, _ in seen] == sorted((h for h, _, _ in seen), reverse=True)
    assert [e for _, e, _ in seen] == sorted((e for _, e, _ in seen), reverse=True)
    assert {h for h, _, _ in seen} >= {6, 4, 2, 0} and {e for _, e, _ in seen} == {5, 4, 3, 2, 1}
    assert all(h == 0 for h, e, _ in seen if e < 5)
    assert any(t for _, e, t in seen if e == 1)


def test_a_window_too_small_for_the_rules_and_question_is_an_error(generator: LocalGenerator,
                                                                   request_: GenerationRequest) -> None:
    request = GenerationRequest(request_.query, "en", request_.hits, [], MAX_NEW_TOKENS, MAX_NEW_TOKENS + 100)
    with pytest.raises(PromptBudgetError, match="exceed 100 tokens"):
        generator.prompt(request)


def test_the_estimate_for_tokenizer_less_backends_is_on_the_high_side(generator: LocalGenerator,
                                                                      request_: GenerationRequest) -> None:
    for language in ("en", "zh"):
        entries = [Entry(**json.loads(line)) for line in DEMO_KB.read_text(encoding="utf-8").splitlines()]
        hits = [Hit(e, 0.9, e.question) for e in entries if e.language == language][:5]
        messages = generator.prompt(GenerationRequest(request_.query, language, hits)).messages
        assert estimate_chat_tokens(messages) >= generator.count_chat_tokens(messages), language
