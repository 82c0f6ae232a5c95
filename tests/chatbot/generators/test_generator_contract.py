"""The generator contract, run against every backend as the conversation store's suite runs
against SQLite and PostgreSQL: extractive; local (the real shipped SmolLM2, slow) and the same
behind promotion (slow); remote against this bot's own `/v1`, served by a real server over HTTP
(integration).

What the engine relies on (chatbot/generators/base.py):
- `name` is a non-empty string; `warm_up()` may be called again and changes nothing;
- `prompt(request)` builds the prompt once: its `request` is the one asked for, its `entries`
  are at most the hits (its `hits` the first of them), its counted `tokens` within the budget;
- `stream(prompt)` yields non-empty str pieces that join to the answer, stripped, non-empty for a
  normal request, equal to `generate(request)`; a consumer may stop it early;
- a prompt that cannot fit raises `PromptBudgetError` (a backend that sends no prompt, the
  extractive one, has nothing to fit and answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.generators.base import Generator
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.messages import ChatMessage, GenerationRequest
from chatbot.stages.prompts import PromptBudgetError
from knowledge_base.entries import Entry
from knowledge_base.retrieval.hits import Hit

MAX_NEW_TOKENS = 24  # bounds the real model's answers: the contract is about shape, not length
FAQ = """id,question,alternates,answer
returns,How do I return an item?,Can I send something back?|What is your return policy?,You can return any item within 30 days for a full refund.
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,"We accept Visa, Mastercard and PayPal."
shipping,How long does shipping take?,When will my order arrive?,Orders arrive in 3-5 business days.
"""
HITS = [
    Hit(Entry("returns", "How do I return an item?", "You can return any item within 30 days for a full refund."),
        0.9, "How do I return an item?"),
    Hit(Entry("shipping", "How long does shipping take?", "Orders arrive in 3-5 business days."),
        0.6, "How long does shipping take?"),
    Hit(Entry("payment", "Which payment methods do you accept?", "We accept Visa, Mastercard and PayPal."),
        0.4, "Which payment methods do you accept?"),
]
HISTORY = [ChatMessage("user", "Hello"), ChatMessage("assistant", "Hello! How can I help?")]
REQUEST = GenerationRequest("How do I return an item?", "en", HITS, HISTORY, MAX_NEW_TOKENS)


def local_generator(converted_models: Path) -> Generator:
    from chatbot.generators.local import LocalGenerator

    return LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module", params=[
    "extractive",
    pytest.param("local", marks=pytest.mark.slow),
    pytest.param("promoted", marks=pytest.mark.slow),
    pytest.param("remote", marks=pytest.mark.integration),
])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            converted_models: Path) -> Iterator[Generator]:
    """Each backend, warmed up once for the module."""
    kind = request.param
    if kind == "extractive":
        generator: Generator = ExtractiveGenerator()
    elif kind == "local":
        generator = local_generator(converted_models)
    elif kind == "promoted":
        from chatbot.generators.promoted import PromotedVersionGenerator
        from chatbot.generators.registry import ModelRegistry

        # No version promoted: it serves the base model, through its own forwarding.
        generator = PromotedVersionGenerator(local_generator(converted_models),
                                             ModelRegistry(tmp_path_factory.mktemp("registry")))
    else:
        yield from remote_generator(tmp_path_factory, converted_models)
        return
    generator.warm_up()
    yield generator
    close = getattr(generator, "close", None)
    if close is not None:
        close()


def remote_generator(tmp_path_factory: pytest.TempPathFactory, converted_models: Path) -> Iterator[Generator]:
    """The remote generator whose peer is this bot's own `/v1` (the extractive generator over
    FAQ), served by uvicorn on a free port."""
    from faq_services import services_with_faq
    from live_server import module_home, running_server

    from chatbot.generators.remote import RemoteGenerator, RemoteOptions
    from ui.server import create_app

    with module_home(tmp_path_factory.mktemp("contract-peer"), converted_models) as home:
        services = services_with_faq(home, FAQ, warm=True)
        with running_server(create_app(services)) as url:
            generator = RemoteGenerator(f"{url}/v1", RemoteOptions(max_retries=0, timeout_s=60), MAX_NEW_TOKENS)
            generator.warm_up()
            yield generator


def test_the_name_is_a_non_empty_string(backend: Generator) -> None:
    assert isinstance(backend.name, str) and backend.name.strip()


def test_warm_up_is_idempotent(backend: Generator) -> None:
    name, window = backend.name, backend.context_window
    backend.warm_up()
    backend.warm_up()
    assert backend.name == name and backend.context_window == window
    assert window is None or (isinstance(window, int) and window > MAX_NEW_TOKENS)


def test_the_prompt_gives_at_most_the_hits(backend: Generator) -> None:
    prompt = backend.prompt(REQUEST)
    assert prompt.request is REQUEST
    assert 0 <= prompt.entries <= len(REQUEST.hits) and prompt.hits == REQUEST.hits[: prompt.entries]
    assert 0 <= prompt.history <= len(REQUEST.history)
    if prompt.tokens is not None:  # counted against the budget: within it
        assert 0 < prompt.tokens <= backend.prompt_budget(REQUEST)
    if prompt.token_ids is not None:  # tokenised once, here: the count is of these very ids
        assert prompt.tokens == len(prompt.token_ids)
    if prompt.messages:  # a backend that sends a chat: the rules first, the question last
        assert prompt.messages[0]["role"] == "system"
        assert prompt.messages[-1] == {"role": "user", "content": REQUEST.query}
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in prompt.messages)


def test_token_counts_grow_with_the_text(backend: Generator) -> None:
    assert backend.count_tokens("") == 0
    assert 0 < backend.count_tokens("Where is my parcel?") < backend.count_tokens("Where is my parcel? " * 5)
    chat = [{"role": "user", "content": "Where is my parcel?"}]
    assert backend.count_chat_tokens(chat) > backend.count_tokens("Where is my parcel?")  # template markers


def test_stream_pieces_join_to_the_answer(backend: Generator) -> None:
    pieces = list(backend.stream(backend.prompt(REQUEST)))
    assert pieces and all(isinstance(piece, str) and piece for piece in pieces)
    answer = "".join(pieces)
    assert answer.strip() and answer == answer.strip()
    assert answer == backend.generate(REQUEST)  # greedy: streamed or at once, the same text


def test_the_same_prompt_streams_the_same_answer(backend: Generator) -> None:
    # `stream` only reads the prompt: handing it over twice gives the same (greedy) answer twice.
    prompt = backend.prompt(REQUEST)
    assert "".join(backend.stream(prompt)) == "".join(backend.stream(prompt))


def test_a_consumer_may_stop_the_stream_early(backend: Generator) -> None:
    stream = backend.stream(backend.prompt(REQUEST))
    assert next(stream)
    stream.close()  # frees what the answer held (a batch slot, a connection); no error
    assert backend.generate(REQUEST)  # and the backend serves the next request


def test_a_prompt_that_cannot_fit_raises_the_budget_error(backend: Generator) -> None:
    # A window 20 tokens larger than the answer: not even the rules fit.
    tiny = GenerationRequest(REQUEST.query, "en", HITS, [], MAX_NEW_TOKENS, MAX_NEW_TOKENS + 20)
    if not backend.prompt(REQUEST).messages:  # sends no prompt (extractive): nothing to fit
        assert backend.generate(tiny) == HITS[0].entry.answer
        return
    with pytest.raises(PromptBudgetError):
        backend.prompt(tiny)
