"""Continuous batching of the local generator, with the real shipped SmolLM2 (slow), and its light parts.

Greedy answers must not depend on who else is being served: each request gets the same text alone
and batched, and through plain `model.generate`. The model is converted once per session
(`converted_models`), then loaded twice here: batched, and without batching as the reference.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chatbot.generators.batching import BatchingOptions, ContinuousBatcher
from chatbot.generators.local import LocalGenerator
from chatbot.messages import ChatMessage, GenerationRequest
from knowledge_base.entries import Entry
from knowledge_base.retrieval.hits import Hit

REPO_ROOT = Path(__file__).resolve().parents[3]
RETURNS = Hit(Entry("returns", "How long do I have to return an item?",
                    "Items can be returned within 30 days of delivery."), 0.9, "returns")
SHIPPING = Hit(Entry("shipping", "How long does delivery take?",
                     "Standard delivery takes 3 to 5 business days; express takes 1 day."), 0.8, "delivery")
# Short answers keep the CPU time down; different questions give different answers and lengths.
REQUESTS = [
    GenerationRequest("How many days do I have to return something?", "en", [RETURNS], max_new_tokens=20),
    GenerationRequest("How fast is express delivery?", "en", [SHIPPING], max_new_tokens=20),
    GenerationRequest("Can I send back shoes after a month?", "en", [RETURNS, SHIPPING], max_new_tokens=20),
    GenerationRequest("When will my parcel arrive?", "en", [SHIPPING, RETURNS], max_new_tokens=20),
]


@pytest.fixture(scope="module")
def batched(converted_models: Path):
    generator = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=24,
                               batching=BatchingOptions(max_batch_size=4, cache_tokens=4096))
    generator.warm_up()
    yield generator
    generator.close()


@pytest.fixture(scope="module")
def unbatched(converted_models: Path) -> LocalGenerator:
    generator = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=24, batching=None)
    generator.warm_up()
    return generator


@pytest.fixture(scope="module")
def alone(batched: LocalGenerator) -> list[str]:
    """Each request's answer through the batching loop with nobody else in it."""
    return [batched.generate(request) for request in REQUESTS]


def counting_prompt(generator: LocalGenerator) -> list[int]:
    """A prompt the model continues for many tokens without an end token (it keeps counting)."""
    return generator._tokenizer("Counting from one: 1, 2, 3, 4, 5, 6, 7, 8,")["input_ids"]


@pytest.mark.slow
def test_batching_runs_on_the_resolved_cpu_device(batched: LocalGenerator, unbatched: LocalGenerator) -> None:
    import torch

    assert batched.batched and not unbatched.batched
    assert batched._model.dtype == torch.float32 and batched._model.device.type == "cpu"
    assert batched._batcher.capacity_tokens >= 4096


@pytest.mark.slow
def test_stream_yields_the_answer_in_order(batched: LocalGenerator, alone: list[str]) -> None:
    pieces = list(batched.stream(batched.prompt(REQUESTS[0])))
    assert len(pieces) >= 3 and all(pieces), pieces
    assert "".join(pieces) == alone[0]
    assert "30" in alone[0] and "\n" not in alone[0], alone[0]


@pytest.mark.slow
def test_token_stream_equals_raw_greedy_generate(batched: LocalGenerator, unbatched: LocalGenerator) -> None:
    import torch

    ids = list(batched.prompt(REQUESTS[1]).token_ids)
    batches = list(batched._batcher.submit(ids, max_new_tokens=12))
    streamed = [token for batch in batches for token in batch]
    with torch.inference_mode():
        output = unbatched._model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                                           pad_token_id=unbatched._tokenizer.pad_token_id)
    assert streamed == output[0, len(ids):].tolist()
    assert len(batches) >= 2  # streamed in steps, not handed over at the end


@pytest.mark.slow
def test_concurrent_requests_get_their_own_answers_equal_to_alone(
    batched: LocalGenerator, unbatched: LocalGenerator, alone: list[str]
) -> None:
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        streamed = list(pool.map(lambda request: list(batched.stream(batched.prompt(request))), REQUESTS))
    assert ["".join(pieces) for pieces in streamed] == alone
    assert len(set(alone)) == len(alone)  # four different answers: no mix-up could go unseen
    # And the same as plain `model.generate`, one request at a time, without batching.
    assert [unbatched.generate(request) for request in REQUESTS] == alone


@pytest.mark.slow
def test_a_request_joins_one_already_generating(batched: LocalGenerator) -> None:
    """B arrives while A is generating: B's first tokens come before A's last (shared steps)."""
    batcher = batched._batcher
    first = batcher.submit(counting_prompt(batched), max_new_tokens=40)
    a_tokens = next(first)
    second = batcher.submit(batched.prompt(REQUESTS[0]).token_ids, max_new_tokens=8)
    b_tokens = next(second)
    a_rest = [token for batch in first for token in batch]
    assert b_tokens and len(a_tokens) + len(a_rest) == 40
    assert len(a_rest) >= 20  # A was far from done when B's first token came
    assert [token for batch in second for token in batch]


@pytest.mark.slow
def test_cancelling_one_request_leaves_the_others(batched: LocalGenerator, alone: list[str]) -> None:
    batcher = batched._batcher
    started = threading.Barrier(3)

    def leave_early() -> str:
        stream = batched.stream(batched.prompt(REQUESTS[0]))
        started.wait()
        piece = next(stream)
        stream.close()  # the customer went away
        return piece

    def finish(request: GenerationRequest) -> str:
        started.wait()
        return batched.generate(request)

    with ThreadPoolExecutor(3) as pool:
        left = pool.submit(leave_early)
        finished = [pool.submit(finish, request) for request in REQUESTS[1:3]]
        assert left.result() and alone[0].startswith(left.result())
        assert [future.result() for future in finished] == alone[1:3]
    # A raw stream cancelled by hand, mid-way, too.
    with batcher.submit(counting_prompt(batched), max_new_tokens=40) as stream:
        next(stream)
    assert not batcher._inboxes  # nothing left behind
    assert batched.generate(REQUESTS[3]) == alone[3]


@pytest.mark.slow
def test_a_prompt_larger_than_the_cache_is_a_clear_error(batched: LocalGenerator) -> None:
    with pytest.raises(ValueError, match="does not fit the generation cache of 4096 tokens"):
        batched._batcher.submit([1] * 4090, max_new_tokens=10)
    with pytest.raises(ValueError, match="empty"):
        batched._batcher.submit([], max_new_tokens=10)
    with pytest.raises(ValueError, match="max_new_tokens"):
        batched._batcher.submit([1, 2], max_new_tokens=0)


@pytest.mark.slow
def test_a_prompt_larger_than_the_cache_is_generated_on_its_own(
    converted_models: Path, unbatched: LocalGenerator
) -> None:
    earlier = "I bought a pair of running shoes and a rain jacket last week and the shoes are too small. " * 3
    long_request = GenerationRequest(
        "Can I still send the shoes back?", "en", [RETURNS, SHIPPING], max_new_tokens=20,
        history=[ChatMessage("user", earlier), ChatMessage("assistant", "Items can be returned within 30 days.")],
    )
    small = LocalGenerator("smollm2", converted_models, device="cpu", max_new_tokens=24,
                           batching=BatchingOptions(max_batch_size=2, cache_tokens=256))
    try:
        small.warm_up()
        assert small.batched and len(small.prompt(long_request).token_ids) + 20 > small._batcher.capacity_tokens
        answer = small.generate(long_request)
        assert answer and answer == unbatched.generate(long_request)
    finally:
        small.close()


@pytest.mark.slow
def test_a_process_that_exits_mid_generation_exits_cleanly(batched: LocalGenerator, converted_models: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from chatbot.generators.local import LocalGenerator\n"
        "generator = LocalGenerator('smollm2', Path(sys.argv[1]), device='cpu', max_new_tokens=200)\n"
        "generator.warm_up()\n"
        "stream = generator._batcher.submit(generator._tokenizer('Counting: 1, 2, 3, 4,')['input_ids'], 200)\n"
        "print(next(stream))  # and exit while the loop is generating the rest\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(converted_models)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]  # not 134: the loop is stopped at exit
    assert done.stdout.strip() and "Traceback" not in done.stderr, done.stderr[-3000:]


@pytest.mark.slow
def test_stop_then_the_next_request_restarts_the_loop(batched: LocalGenerator, alone: list[str]) -> None:
    batched.close()
    assert batched._batcher._manager is None
    assert batched.generate(REQUESTS[1]) == alone[1]


# ---- light: no model ----


@pytest.mark.parametrize("options", [dict(max_batch_size=0), dict(cache_tokens=100), dict(max_batch_size=2.5)])
def test_batching_options_refuse_bad_sizes(options: dict) -> None:
    with pytest.raises(ValueError):
        BatchingOptions(**options)


def test_batcher_stores_settings_and_loads_nothing() -> None:
    batcher = ContinuousBatcher(model=None, options=BatchingOptions(2, 512))
    assert batcher.options.max_batch_size == 2 and batcher.capacity_tokens == 0
    batcher.stop()  # never started: a no-op


def test_settings_and_factory_size_the_local_generator(chatbot_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chatbot.generators.factory import create_generator
    from chatbot.services import build_services
    from chatbot.settings import Settings

    assert create_generator("local", chatbot_home / "models", "cpu", 64).batching == BatchingOptions()
    assert create_generator("local", chatbot_home / "models", "cpu", 64, batching=None).batching is None
    monkeypatch.setenv("CHATBOT_GENERATION_BATCH_SIZE", "3")
    monkeypatch.setenv("CHATBOT_GENERATION_CACHE_TOKENS", "2048")
    assert build_services(Settings(generator="local")).generator.batching == BatchingOptions(3, 2048)
    assert build_services(Settings(generator="local", generation_batching=False)).generator.batching is None
    with pytest.raises(ValueError, match="generation_cache_tokens"):
        Settings(generation_cache_tokens=10)


# What the GPU machine that runs bench/bench_generation.py has, besides the standard library.
# peft: the GPU image has it too (a fine-tuned version merges its adapter on load).
GPU_BOX_PACKAGES = {"torch", "transformers", "numpy", "tqdm", "psutil", "safetensors", "peft"}
PROJECT = {"chatbot", "knowledge_base"}
BENCH_PATH = [
    "bench/bench_generation.py", "chatbot/generators/local.py", "chatbot/generators/batching.py",
    "chatbot/messages.py", "knowledge_base/embedding/devices.py",
]


def test_bench_path_imports_only_what_the_gpu_machine_has() -> None:
    """The bench and every project module it loads import (even lazily) only the GPU box's packages."""
    code = (
        "import importlib.util, json, sys\n"
        "before = set(sys.modules)\n"
        "spec = importlib.util.spec_from_file_location('bench_generation', 'bench/bench_generation.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "import chatbot.generators.local, chatbot.generators.batching, chatbot.messages, knowledge_base.embedding.devices\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print(json.dumps([[m, getattr(sys.modules[m], '__file__', None)] for m in new]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    top_level = {name.split(".")[0] for name, _ in loaded}
    # At module level: the standard library and this project only (torch loads when a model does).
    assert top_level - set(sys.stdlib_module_names) <= PROJECT | {"bench_generation"}, top_level
    # Everywhere in those files, inside functions too: nothing the GPU machine lacks.
    files = {Path(path).resolve() for name, path in loaded if name.split(".")[0] in PROJECT and path}
    files |= {(REPO_ROOT / path).resolve() for path in BENCH_PATH}
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root in sys.stdlib_module_names or root in GPU_BOX_PACKAGES | PROJECT, (path, name)
