"""Supervised fine-tuning of a causal LM on (prompt, answer) examples: LoRA or full.

The loss counts the answer tokens only (the prompt's labels are -100): the model learns to write
answers from entries, not to reproduce the rules and entries it is shown. Precision follows the
device resolver (knowledge_base/embedding/devices.py): on a CUDA GPU with bf16, the frozen base weights are
bf16 (LoRA) or fp32 master weights (full), the forward runs under bf16 autocast and activations
are recomputed (gradient checkpointing) to fit long prompts; on a CPU everything is fp32.

    >>> result = train_model(source, examples, heldout, options, out_dir, progress=True)
    >>> result.loss_before, result.loss_after

Imports torch, transformers and peft only inside functions.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from tqdm.auto import tqdm

from chatbot.finetune.dataset import Example
from knowledge_base.embedding.devices import DeviceChoice

LORA_ALPHA_PER_RANK = 2  # alpha = 2 × rank: the usual scale for LoRA updates
LORA_DROPOUT = 0.05
# Every linear layer but the output head: attention (q, k, v, o) and MLP (gate, up, down)
# projections in Llama-like models, whatever the architecture names them.
LORA_TARGETS = "all-linear"
WARMUP_SHARE = 0.1  # of the steps, learning rate rising linearly from 0
MAX_GRAD_NORM = 1.0
IGNORE = -100  # label of a token the loss skips


@dataclass(frozen=True)
class TrainOptions:
    """How to train. `steps` wins over `epochs`; `learning_rate` None picks by method."""

    steps: int | None = None
    epochs: float = 1.0
    learning_rate: float | None = None
    lora_rank: int = 16
    full: bool = False
    batch_size: int = 4
    max_length: int = 2048  # tokens, prompt and answer; longer examples are left out
    seed: int = 0

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-5 if self.full else 2e-4

    def validate(self) -> "TrainOptions":
        """Self, or ValueError saying which option is out of range."""
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be above 0, not {self.epochs}")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise ValueError(f"learning rate must be between 0 and 1, not {self.learning_rate}")
        if self.lora_rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, not {self.lora_rank}")
        if self.batch_size < 1 or self.max_length < 16:
            raise ValueError("batch size must be at least 1 and max length at least 16 tokens")
        return self


@dataclass(frozen=True)
class TrainingPlan:
    """Where and in which precision to train; chosen by `training_plan` from the device."""

    device: str
    weights_dtype: str  # dtype the model is loaded in
    autocast_dtype: str | None  # forward/backward under torch.autocast in this dtype, or plain
    gradient_checkpointing: bool


def training_plan(choice: DeviceChoice, full: bool) -> TrainingPlan:
    """The precision and memory plan for `choice` (from `resolve_device`).

    CUDA with bf16: bf16 autocast and gradient checkpointing; LoRA keeps the frozen base in
    bf16 (half the memory; peft keeps the adapter weights fp32), full fine-tuning keeps fp32
    master weights (AdamW updates are lost in bf16's 8-bit mantissa). Anything else (CPU, MPS,
    fp16-only GPUs, where fp16 would need loss scaling) trains in fp32.
    """
    if choice.is_cuda and choice.dtype_name == "bfloat16":
        return TrainingPlan(choice.device, "float32" if full else "bfloat16", "bfloat16", True)
    return TrainingPlan(choice.device, "float32", None, False)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    examples: int  # tokenised training examples
    too_long: int  # examples left out for exceeding max_length
    loss_before: float | None  # held-out answer loss before training (None: nothing held out)
    loss_after: float | None
    last_loss: float
    seconds: float


def tokenize_example(tokenizer: Any, example: Example, max_length: int) -> dict[str, list[int]] | None:
    """input_ids and labels for `example`: the prompt exactly as the local generator encodes it
    (its chat template with the generation prompt), then the answer and the end-of-turn token.

    Only the answer tokens are labelled. None if the whole is longer than `max_length`.
    """
    messages = example.messages
    prompt_ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"])
    prompt_text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": example.target}],
                                              tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ValueError("the model's chat template does not render the answer after the generation prompt")
    # What the template puts after the generation prompt: the answer and its end-of-turn mark.
    # Whitespace after that mark only separates turns; generation has stopped by then.
    completion_ids = tokenizer(full_text[len(prompt_text):].rstrip(), add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None and completion_ids[-1:] != [tokenizer.eos_token_id]:
        completion_ids.append(tokenizer.eos_token_id)
    if len(prompt_ids) + len(completion_ids) > max_length:
        return None
    return {"input_ids": prompt_ids + completion_ids, "labels": [IGNORE] * len(prompt_ids) + completion_ids}


def _pad(rows: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors (padding is masked out of attention and labelled IGNORE)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = [r["input_ids"] + [pad_id] * (width - len(r["input_ids"])) for r in rows]
    labels = [r["labels"] + [IGNORE] * (width - len(r["labels"])) for r in rows]
    mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def _batches(rows: list[dict[str, list[int]]], batch_size: int, seed: int) -> Iterator[list[dict[str, list[int]]]]:
    """Endless batches, the rows reshuffled (seeded) at each pass."""
    rng = random.Random(seed)
    while True:
        order = rng.sample(range(len(rows)), len(rows))
        for start in range(0, len(order), batch_size):
            yield [rows[i] for i in order[start:start + batch_size]]


def _autocast(plan: TrainingPlan) -> Any:
    import contextlib

    import torch

    if plan.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(plan.device.split(":")[0], dtype=getattr(torch, plan.autocast_dtype))


def answer_loss(model: Any, rows: Sequence[dict[str, list[int]]], pad_id: int, plan: TrainingPlan,
                batch_size: int) -> float | None:
    """Mean cross-entropy per answer token over `rows` (None if there are none)."""
    import torch

    if not rows:
        return None
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(model.device) for k, v in _pad(rows[start:start + batch_size], pad_id).items()}
            with _autocast(plan):
                loss = model(**batch).loss.float().item()
            counted = int((batch["labels"][:, 1:] != IGNORE).sum())  # the model shifts labels by one
            total, tokens = total + loss * counted, tokens + counted
    return round(total / tokens, 4)


def load_for_training(source: str, options: TrainOptions, plan: TrainingPlan) -> tuple[Any, Any]:
    """(model, tokenizer) ready to train: LoRA-wrapped unless `options.full`, on `plan.device`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, plan.weights_dtype))
    model.config.use_cache = False  # the cache is for generation; training recomputes everything
    if plan.gradient_checkpointing:
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable({"use_reentrant": False})
    if not options.full:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=options.lora_rank, lora_alpha=LORA_ALPHA_PER_RANK * options.lora_rank,
                            lora_dropout=LORA_DROPOUT, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
    return model.to(plan.device), tokenizer


def train_model(source: str, train: Sequence[Example], heldout: Sequence[Example], options: TrainOptions,
                out_dir: Path, plan: TrainingPlan, progress: bool = False) -> TrainResult:
    """Train on `train`, measure the answer loss on `heldout` before and after, save to `out_dir`.

    Saves the LoRA adapter (peft's `adapter_config.json` + weights) or, with `options.full`, the
    whole model and its tokenizer.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup, set_seed

    options.validate()
    started = time.perf_counter()
    set_seed(options.seed)
    model, tokenizer = load_for_training(source, options, plan)
    rows = [tokenize_example(tokenizer, ex, options.max_length) for ex in train]
    kept = [row for row in rows if row is not None]
    if not kept:
        raise ValueError(f"no training example fits in {options.max_length} tokens")
    held = [r for r in (tokenize_example(tokenizer, ex, options.max_length) for ex in heldout) if r is not None]
    pad_id = tokenizer.pad_token_id

    model.eval()  # dropout off while measuring
    loss_before = answer_loss(model, held, pad_id, plan, options.batch_size)
    steps = options.steps or max(1, math.ceil(options.epochs * len(kept) / options.batch_size))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.lr, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP_SHARE * steps), steps)
    batches = _batches(kept, options.batch_size, options.seed)
    model.train()
    last = float("nan")
    bar = tqdm(range(steps), desc="fine-tuning", unit="step", disable=not progress)
    for _ in bar:
        batch = {k: v.to(plan.device) for k, v in _pad(next(batches), pad_id).items()}
        with _autocast(plan):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, MAX_GRAD_NORM)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        last = loss.item()
        bar.set_postfix(loss=f"{last:.3f}")
    model.eval()
    loss_after = answer_loss(model, held, pad_id, plan, options.batch_size)

    out_dir.mkdir(parents=True, exist_ok=True)
    if options.full:
        model.config.use_cache = True  # the saved config is for serving
        tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)  # peft saves only the adapter
    return TrainResult(steps, len(kept), len(rows) - len(kept), loss_before, loss_after, round(last, 4),
                       round(time.perf_counter() - started, 1))
