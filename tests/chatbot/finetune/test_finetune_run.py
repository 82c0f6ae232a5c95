"""`chatbot finetune` with the real shipped SmolLM2 on a tiny KB, a few steps on the CPU (slow), then
the version it makes served in-process and through `chatbot ask --json`, promoted and rolled back.

The fine-tune runs once for the module, as a user runs it (a real process); the light tests at the
end check the command's errors without loading a model.
"""

from __future__ import annotations

import json
import os
from collections import Counter
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.conversations.store import ConversationStore
from chatbot.conversations.database import create_db_engine
from chatbot.finetune.dataset import build_examples, split_phrasings
from chatbot.finetune.metrics import agrees
from chatbot.finetune.training import TrainOptions, TrainingPlan, load_for_training, tokenize_example, train_model
from chatbot.generators.local import SHIPPED_MODELS, LocalGenerator, convert_gguf, shipped_gguf_path
from chatbot.generators.promoted import version_generator
from chatbot.generators.registry import ModelCard, ModelRegistry
from chatbot.services import Services, build_services
from chatbot.settings import Settings

CHATBOT = str(Path(sys.executable).parent / "chatbot")
FAQ = """id,question,alternates,answer
ship-time,How long does shipping take?,When will my order arrive?|How many days until my parcel comes?|delivery time,Standard shipping takes 4 business days.
returns,Can I return an item?,What is your return policy?|Can I send something back?|refund for a product,You can return unused items within 45 days.
password,How do I reset my password?,I forgot my password|I can't log in to my account|change my login,Click 'Forgot password' on the sign-in page.
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?|ways to pay,We accept Visa and PayPal.
"""
# Short prompts (2 entries each) and answers keep every step and answer quick on a CPU.
ENV = {"CHATBOT_GENERATOR": "local", "CHATBOT_DEVICE": "cpu", "CHATBOT_TOP_K": "2", "CHATBOT_MAX_NEW_TOKENS": "40"}
# 6 training and 2 held-out phrasings, 5 passes over them: enough to teach the answers visibly.
FINETUNE = ["finetune", "--steps", "10", "--lr", "1e-3", "--batch-size", "3", "--lora-rank", "8",
            "--max-examples", "8", "--holdout", "0.25", "--seed", "0", "--device", "cpu"]


def run(*args: str, home: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CHATBOT_HOME": str(home), "HF_HUB_OFFLINE": "1", **ENV, **env}
    result = subprocess.run([CHATBOT, *args], capture_output=True, text=True, env=full_env, timeout=1200)
    if check and result.returncode != 0:
        raise AssertionError(f"chatbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def settings_for(home: Path) -> Settings:
    return Settings(home=home, generator="local", device="cpu", top_k=2, max_new_tokens=40)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, converted_models: Path) -> Path:
    """A data folder with the KB imported and its own models folder (so model versions and the
    promotion pointer are this module's), holding the session's converted SmolLM2."""
    shipped = SHIPPED_MODELS["smollm2"]
    folder = convert_gguf(shipped_gguf_path(shipped), converted_models / shipped.folder)
    home = tmp_path_factory.mktemp("finetune-home")
    (home / "models").mkdir()
    (home / "models" / folder.name).symlink_to(folder, target_is_directory=True)
    faq = home / "faq.csv"
    faq.write_text(FAQ, encoding="utf-8")
    run("kb", "import", str(faq), home=home)
    return home


@pytest.fixture(scope="module")
def card(home: Path) -> ModelCard:
    result = run(*FINETUNE, "--json", home=home)
    return ModelCard(**json.loads(result.stdout))


@pytest.fixture(scope="module")
def trained_phrasing(home: Path) -> tuple[str, str]:
    """(a phrasing the version was trained on, its entry's answer), of the entry trained on most:
    ten steps on six examples teach that one for sure, not necessarily every entry."""
    services = build_services(settings_for(home))
    split = split_phrasings(services.knowledge_base.list_entries(), 0.25, seed=0, max_examples=8)
    counts = Counter(entry.id for entry, _ in split.train)
    entry, text = next((e, t) for e, t in split.train if e.id == counts.most_common(1)[0][0])
    return text, entry.answer


def logged_generators(home: Path) -> list[str]:
    """The generator recorded for each logged turn, oldest first."""
    store = ConversationStore(create_db_engine(settings_for(home).database_url))
    generators = []
    for summary in reversed(store.list_conversations(limit=100)):
        transcript = store.get_transcript(summary.id)
        generators += [m.trace.generator for m in transcript.messages if m.role == "assistant" and m.trace]
    return generators


@pytest.mark.slow
def test_a_run_makes_a_version_with_its_card(home: Path, card: ModelCard) -> None:
    registry = ModelRegistry(home / "models")
    folder = registry.version_dir(card.id)
    assert ModelCard.read(folder / "card.json") == card
    assert (folder / "adapter" / "adapter_config.json").is_file()  # LoRA: the adapter, not a model copy
    assert sorted(p.name for p in registry.versions_dir.iterdir()) == [card.id]  # no leftovers
    assert (card.base, card.kind, len(card.data_hash)) == ("smollm2", "lora", 64)
    assert card.data["train"] == 6 and card.data["heldout"] == 2 and card.data["languages"]["en"]
    assert card.settings["steps"] == 10 and card.settings["lora_rank"] == 8
    assert (card.settings["device"], card.settings["weights_dtype"]) == ("cpu", "float32")
    assert card.settings["gradient_checkpointing"] is False and card.settings["autocast_dtype"] is None
    before, after = card.metrics["before"], card.metrics["after"]
    for metrics in (before, after):
        assert set(metrics) == {"n", "exact_answer", "grounded_rate", "mean_answer_chars", "loss", "by_language"}
        assert metrics["n"] == 2 and 0 <= metrics["exact_answer"] <= 1 and 0 <= metrics["grounded_rate"] <= 1
        assert sum(group["n"] for group in metrics["by_language"].values()) == 2
    assert before != after
    assert after["loss"] < before["loss"]  # the held-out answers became likelier
    assert after["exact_answer"] >= before["exact_answer"]


@pytest.mark.slow
def test_the_version_serves_in_process_after_promotion_and_rollback(
        home: Path, card: ModelCard, trained_phrasing: tuple[str, str]) -> None:
    question, answer = trained_phrasing
    services: Services = build_services(settings_for(home))
    registry = ModelRegistry(home / "models")
    base_reply = services.engine.respond(None, question)
    assert base_reply.generator == "local:smollm2"

    registry.promote(card.id)
    services.generator.refresh()  # another process's promotion is seen within a second anyway
    tuned_reply = services.engine.respond(None, question)
    assert tuned_reply.generator == f"local:smollm2@{card.id}"
    assert agrees(tuned_reply.answer, answer), tuned_reply.answer
    assert tuned_reply.answer != base_reply.answer

    # Training saw the prompt the serving generator sends, token for token, and the answer after it.
    generator: LocalGenerator = services.generator.current()
    served = services.engine.decide(question)
    entry_id = tuned_reply.citations[0].entry_id
    example = build_examples(services.engine, [(services.knowledge_base.get(entry_id), question)])[0][0]
    assert example.request.hits == served.hits
    row = tokenize_example(generator._tokenizer, example, 2048)
    serving_ids = list(generator.prompt(example.request).token_ids)  # exactly what the batching loop is fed
    prompt_length = len(serving_ids)
    assert row["input_ids"][:prompt_length] == serving_ids
    assert set(row["labels"][:prompt_length]) == {-100}
    answer_ids = row["labels"][prompt_length:]
    assert example.target.startswith(answer)
    assert generator._tokenizer.decode(answer_ids) == f"{example.target}<|im_end|>"  # answer, then stop

    assert registry.rollback() is None
    services.generator.refresh()
    again = services.engine.respond(None, question)
    assert again.generator == "local:smollm2" and again.answer == base_reply.answer


@pytest.mark.slow
def test_promote_and_rollback_switch_what_ask_uses(home: Path, card: ModelCard,
                                                    trained_phrasing: tuple[str, str]) -> None:
    question, answer = trained_phrasing
    assert ModelRegistry(home / "models").promoted() is None
    listing = run("model", "list", home=home).stdout
    assert card.id in listing and "smollm2" in listing and "* " not in listing
    assert "serving: the base model" in listing

    promoted = run("model", "promote", card.id, home=home)
    assert f"promoted {card.id} (lora of smollm2)" in promoted.stdout and not promoted.stderr.strip()
    assert any(line.startswith("*") and card.id in line for line in run("model", "list", home=home).stdout.splitlines())
    tuned = json.loads(run("ask", question, "--json", home=home).stdout)
    assert agrees(tuned["answer"], answer), tuned

    assert "now serving the base model" in run("model", "rollback", home=home).stdout
    base = json.loads(run("ask", question, "--json", home=home).stdout)
    assert base["answer"] != tuned["answer"]
    assert logged_generators(home)[-2:] == [f"local:smollm2@{card.id}", "local:smollm2"]

    # A server configured with another generator is not switched behind its back: promote says so.
    note = run("model", "promote", card.id, home=home, CHATBOT_GENERATOR="extractive")
    assert "it serves once CHATBOT_GENERATOR names that base" in note.stderr
    run("model", "rollback", home=home)


@pytest.mark.slow
def test_full_finetuning_with_the_gpu_plan_runs_on_the_cpu(home: Path, tmp_path: Path) -> None:
    """bf16 autocast and gradient checkpointing, what `training_plan` picks on a CUDA GPU, through
    the same code on the CPU; full fine-tuning saves a whole model folder that serves."""
    services = build_services(settings_for(home))
    entry = services.knowledge_base.get("returns")
    examples, _ = build_examples(services.engine, [(entry, text) for text in entry.phrasings[:2]])
    base = LocalGenerator("smollm2", home / "models", device="cpu", max_new_tokens=8)
    source = base.model_source()
    gpu_plan = TrainingPlan("cpu", "float32", "bfloat16", True)
    options = TrainOptions(steps=1, full=True, batch_size=2, learning_rate=1e-5)

    model, _ = load_for_training(source, options, gpu_plan)
    checkpointing = getattr(model, "is_activation_checkpointing", None)
    assert (checkpointing if checkpointing is not None else model.is_gradient_checkpointing) is True
    assert not hasattr(model, "peft_config")  # full: the plain model, every weight trained
    del model

    out = tmp_path / "model"
    result = train_model(source, examples[:1], examples[1:], options, out, gpu_plan)
    assert result.steps == 1 and result.loss_before is not None and result.loss_after is not None
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert json.loads((out / "config.json").read_text())["use_cache"] is True
    answer = version_generator(base, "full", out).generate(examples[1].request)
    assert isinstance(answer, str) and answer


# ---- errors, without a model ----


def test_finetune_refuses_an_empty_knowledge_base(tmp_path: Path) -> None:
    result = run("finetune", "--steps", "1", home=tmp_path, check=False)
    assert result.returncode == 1
    assert "the knowledge base has no entries: import some first" in result.stderr


def test_finetune_refuses_bad_options(tmp_path: Path) -> None:
    home = tmp_path  # options are checked before the knowledge base is even read
    both = run("finetune", "--steps", "1", "--epochs", "1", home=home, check=False)
    assert both.returncode == 2 and "give --steps or --epochs, not both" in both.stderr
    holdout = run("finetune", "--holdout", "1.5", home=home, check=False)
    assert holdout.returncode == 1 and "holdout must be at least 0 and below 1" in holdout.stderr
    extractive = run("finetune", "--base", "extractive", home=home, check=False)
    assert extractive.returncode == 1 and "cannot fine-tune 'extractive'" in extractive.stderr
    lr = run("finetune", "--lr", "3", home=home, check=False)
    assert lr.returncode == 1 and "learning rate must be between 0 and 1" in lr.stderr
    missing = run("finetune", "--eval-set", str(home / "missing.jsonl"), home=home, check=False)
    assert missing.returncode == 1 and "error: evaluation set:" in missing.stderr and "missing.jsonl" in missing.stderr
    limit = run("finetune", "--eval-limit", "0", home=home, check=False)
    assert limit.returncode == 2 and "--eval-limit" in limit.stderr


def test_unknown_versions_are_clear_errors(tmp_path: Path) -> None:
    promote = run("model", "promote", "no-such-version", home=tmp_path, check=False)
    assert promote.returncode == 1
    assert "no model version 'no-such-version' (there are none yet: run `chatbot finetune`)" in promote.stderr
    rollback = run("model", "rollback", home=tmp_path, check=False)
    assert rollback.returncode == 1 and "nothing to roll back" in rollback.stderr
    assert "no model versions yet" in run("model", "list", home=tmp_path).stdout
