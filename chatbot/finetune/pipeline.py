"""One fine-tuning run, end to end: data → base metrics → training → a new model version → its metrics.

    >>> card = run_finetune(services, FinetuneOptions(train=TrainOptions(steps=20)), progress=True)
    >>> card.metrics["before"]["exact_answer"], card.metrics["after"]["exact_answer"]

Both metric sets come from the held-out part (a share of the KB's phrasings, or the queries of
evaluation sets: `FinetuneOptions.eval_sets`), answered through the local generator exactly as
serving answers (the version is loaded from the folder it was saved to, so a version whose card
shows metrics is known to load and serve). The version is not promoted: `chatbot model promote`.

LoRA versions are saved as adapters, not merged weights: an adapter is a few MB where the merged
model is the whole model again (0.5 GB for SmolLM2-135M in fp32, GBs for the 1-8B models of a
GPU site), so keeping every version for rollback stays cheap; the local generator merges the
adapter into the base weights once at load, so answering costs what the base model costs.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbot.evaluation.cases import TestSetError
from chatbot.finetune.dataset import (
    Example,
    approved_turn_examples,
    build_examples,
    check_split_options,
    data_hash,
    language_counts,
    split_phrasings,
)
from chatbot.finetune.evalset import eval_set_examples, load_eval_cases
from chatbot.finetune.metrics import answer_metrics, generate_answers, metrics_by_language
from chatbot.finetune.training import (
    LORA_ALPHA_PER_RANK,
    LORA_DROPOUT,
    LORA_TARGETS,
    TrainingPlan,
    TrainOptions,
    TrainResult,
    train_model,
    training_plan,
)
from chatbot.generators.batching import BatchingOptions
from chatbot.generators.factory import create_generator
from chatbot.generators.local import LocalGenerator
from chatbot.generators.promoted import version_generator
from chatbot.generators.registry import ADAPTER_DIR, MODEL_DIR, ModelCard, ModelRegistry, new_version_id, utc_now
from chatbot.services import Services
from knowledge_base.embedding.devices import resolve_device


class FinetuneError(ValueError):
    """A run that cannot start or produced nothing to train on; the message says what to do."""


DEFAULT_HOLDOUT = 0.2  # share of the KB's phrasings held out when no evaluation set is given


@dataclass(frozen=True)
class FinetuneOptions:
    """`base`: a generator setting naming the model to tune (None: the configured generator if it
    is a local model, else the shipped SmolLM2). `device`: None follows the `device` setting.

    `eval_sets`: test-set files (`chatbot eval`'s format) whose queries are measured before and
    after, `eval_limit` lines of each at most. `holdout`: the share of the KB's phrasings held
    out and measured too; None: `DEFAULT_HOLDOUT` without evaluation sets, 0 with them (every
    phrasing is trained on and the evaluation sets are the held-out part).
    """

    base: str | None = None
    train: TrainOptions = field(default_factory=TrainOptions)
    holdout: float | None = None
    max_examples: int | None = None
    device: str | None = None
    eval_sets: tuple[Path, ...] = ()
    eval_limit: int | None = None

    @property
    def holdout_share(self) -> float:
        if self.holdout is not None:
            return self.holdout
        return 0.0 if self.eval_sets else DEFAULT_HOLDOUT


def base_generator(services: Services, options: FinetuneOptions) -> LocalGenerator:
    """The local generator of the model to tune (not loaded); FinetuneError if it is not one."""
    settings = services.settings
    name = options.base or settings.generator
    if options.base is None and name.strip().lower() == "extractive":
        name = "local"  # the extractive generator has no model: tune the shipped one
    # Batched as serving batches, so that the held-out answers are generated together.
    batching = (BatchingOptions(settings.generation_batch_size, settings.generation_cache_tokens)
                if settings.generation_batching else None)
    try:
        generator = create_generator(name, settings.models_dir, options.device or settings.device,
                                     settings.max_new_tokens, batching=batching)
    except ValueError as error:
        raise FinetuneError(f"base model: {error}") from None
    if not isinstance(generator, LocalGenerator):
        raise FinetuneError(f"cannot fine-tune {name!r}: it has no model; give --base local, a model "
                            "folder or a Hugging Face model id")
    return generator


@dataclass
class FinetuneData:
    """The examples of a run and where they came from."""

    train: list[Example]
    heldout: list[Example]  # held-out phrasings of the KB, then the evaluation sets' queries
    approved_turns: int
    skipped: Counter  # KB phrasings, by reason
    kb_version: int
    embedding_model: str
    turns_skipped: Counter = field(default_factory=Counter)
    eval_examples: int = 0
    eval_skipped: Counter = field(default_factory=Counter)


def build_finetune_data(services: Services, options: FinetuneOptions, progress: bool = False) -> FinetuneData:
    """Split the KB's phrasings, prompt them through the engine, add the approved turns and the
    evaluation sets' queries."""
    try:  # a bad evaluation file is reported before minutes of prompting
        cases = load_eval_cases(options.eval_sets, options.eval_limit)
    except (TestSetError, ValueError) as error:
        raise FinetuneError(f"evaluation set: {error}") from None
    entries = services.knowledge_base.list_entries()
    if not entries:
        raise FinetuneError("the knowledge base has no entries: import some first "
                            "(`chatbot kb import FILE` or `chatbot kb demo`)")
    split = split_phrasings(entries, options.holdout_share, options.train.seed, options.max_examples)
    manifest = services.sync_index(progress=progress)  # prompts must show what serving retrieves
    train, skipped = build_examples(services.engine, split.train, progress)
    heldout, skipped_heldout = build_examples(services.engine, split.heldout, progress)
    evaluated, eval_skipped = eval_set_examples(services.engine, entries, cases,
                                                [text for _, text in split.train], progress)
    measured = [example.phrasing for example in heldout + evaluated]  # never trained on
    turns, turns_skipped = approved_turn_examples(services.conversations, services.engine, measured, progress)
    if not train + turns:
        raise FinetuneError(f"nothing to train on: every phrasing was skipped ({dict(skipped)})")
    if cases and not evaluated:
        raise FinetuneError(f"no query of the evaluation set can be measured ({dict(eval_skipped)})")
    return FinetuneData(train + turns, heldout + evaluated, len(turns), skipped + skipped_heldout,
                        manifest.kb_version, manifest.embedding_model, turns_skipped, len(evaluated),
                        eval_skipped)


def run_finetune(services: Services, options: FinetuneOptions, progress: bool = False) -> ModelCard:
    """Build the data set from the KB (and approved turns), train, save and measure a new version."""
    started, clock = utc_now(), time.perf_counter()
    try:
        options.train.validate()
        check_split_options(options.holdout_share, options.max_examples)
        plan = training_plan(resolve_device(options.device or services.settings.device), options.train.full)
    except (ValueError, RuntimeError) as error:  # an option out of range, a device not here
        raise FinetuneError(str(error)) from None
    base = base_generator(services, options)
    data = build_finetune_data(services, options, progress)

    answers_before = generate_answers(base, data.heldout, "held-out answers, base", progress)
    base_source = base.model_source()
    # The same generator settings without the loaded model: one model in memory at a time.
    spec = LocalGenerator(base.model, base.models_dir, base.device, base.max_new_tokens, batching=base.batching)
    # The batching loop holds the model and its KV cache: stop it, or on a GPU training starts
    # with that memory still taken (an H100 ran out of memory this way).
    base.close()
    del base
    gc.collect()
    registry = ModelRegistry(services.settings.models_dir)
    version_id = new_version_id(spec.model)
    work = registry.work_dir(version_id)
    kind = "full" if options.train.full else "lora"
    weights = work / (MODEL_DIR if options.train.full else ADAPTER_DIR)
    try:
        result = train_model(base_source, data.train, data.heldout, options.train, weights, plan, progress)
        gc.collect()
        answers_after = generate_answers(version_generator(spec, kind, weights), data.heldout,
                                         "held-out answers, tuned", progress)
        gc.collect()
        card = ModelCard(
            id=version_id, base=spec.model, kind=kind, created=started,
            data_hash=data_hash(data.train, data.heldout),
            settings=_settings_record(options, plan, services, result),
            data={
                "train": len(data.train), "heldout": len(data.heldout), "approved_turns": data.approved_turns,
                "approved_turns_skipped": dict(data.turns_skipped),
                "eval_sets": [str(path) for path in options.eval_sets], "eval_limit": options.eval_limit,
                "eval_examples": data.eval_examples, "eval_skipped": dict(data.eval_skipped),
                "languages": language_counts(data.train, data.heldout), "skipped": dict(data.skipped),
                "too_long": result.too_long, "kb_version": data.kb_version,
                "embedding_model": data.embedding_model,
                "last_train_loss": result.last_loss, "train_seconds": result.seconds,
            },
            metrics={
                "before": {**answer_metrics(answers_before, data.heldout), "loss": result.loss_before,
                           "by_language": metrics_by_language(answers_before, data.heldout)},
                "after": {**answer_metrics(answers_after, data.heldout), "loss": result.loss_after,
                          "by_language": metrics_by_language(answers_after, data.heldout)},
            },
            seconds=round(time.perf_counter() - clock, 1),
        )
        registry.commit(work, card)
    except BaseException:  # a failed or interrupted run leaves no half-written version behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    return card


def _settings_record(options: FinetuneOptions, plan: TrainingPlan, services: Services,
                     result: TrainResult) -> dict[str, Any]:
    """Everything that shaped the version: the options, the precision plan, the prompt settings."""
    train = options.train
    lora = {} if train.full else {"lora_rank": train.lora_rank, "lora_alpha": LORA_ALPHA_PER_RANK * train.lora_rank,
                                  "lora_dropout": LORA_DROPOUT, "lora_targets": LORA_TARGETS}
    return {
        "steps": result.steps, "epochs": None if train.steps else train.epochs, "learning_rate": train.lr,
        "batch_size": train.batch_size, "max_length": train.max_length, "seed": train.seed,
        "holdout": options.holdout_share, "max_examples": options.max_examples, **lora, **asdict(plan),
        "top_k": services.settings.top_k, "max_new_tokens": services.settings.max_new_tokens,
    }
