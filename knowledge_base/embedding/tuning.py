"""Teach the embedder the knowledge base: contrastive fine-tuning on the entries' own phrasings.

Each phrasing is paired with other phrasings of its entry (the positives); the other pairs in a
batch are its negatives (symmetric in-batch-negatives loss: phrasing → sibling and back). A batch
never holds two pairs of one entry, or a sibling would count as a negative. The tuned model is a
plain sentence-transformers folder, so the `Embedder` loads it like any other.

    >>> report = tune_embedder(resolve_model_path("all-MiniLM-L6-v2"), entries, home / "models" / "tuned")
    >>> Embedder(str(report.out_dir)).encode(["where is my card?"]).shape
    (1, 384)

The classifier head over the (tuned) embeddings lives in `knowledge_base.retrieval.entry_head`.
torch, sentence-transformers and datasets load only when a function needs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence


from knowledge_base.embedding.devices import resolve_device
from knowledge_base.entries import Entry

POSITIVES_PER_PHRASING = 2
WARMUP_RATIO = 0.1
TUNING_FILE = "tuning.json"  # the report, saved beside the weights (provenance)


@dataclass(frozen=True)
class TuneReport:
    """What `tune_embedder` made: where, from which model, on how many pairs, in how long."""

    out_dir: Path
    base_model: str
    pairs: int
    epochs: int
    seconds: float
    data_hash: str  # sha256 of the sorted (entry id, phrasing) lines: "was it tuned on this KB?"


def data_hash(entries: Sequence[Entry]) -> str:
    """A digest of what tuning learns from (ids and phrasings), independent of entry order."""
    lines = sorted(f"{e.id}\t{text}" for e in entries for text in e.phrasings)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def build_pairs(entries: Sequence[Entry], positives: int = POSITIVES_PER_PHRASING,
                seed: int = 0) -> list[tuple[str, str, int]]:
    """(phrasing, sibling, entry index) rows: each phrasing with up to `positives` random siblings.

    An entry with a single phrasing is paired with itself: dropout makes the two encodings differ
    (SimCSE), and the entry stays in batches as a negative for the others.
    """
    rng = random.Random(seed)
    rows: list[tuple[str, str, int]] = []
    for group, entry in enumerate(sorted(entries, key=lambda e: e.id)):  # order-independent
        texts = entry.phrasings
        if len(texts) == 1:
            rows.append((texts[0], texts[0], group))
            continue
        for i, text in enumerate(texts):
            siblings = texts[:i] + texts[i + 1:]
            rows.extend((text, s, group) for s in rng.sample(siblings, min(positives, len(siblings))))
    return rows


def plan_batches(groups: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Row indices in batches with at most one row per group (entry), every row used once.

    Each batch takes the entries with the most rows left (random among ties), so no entry is left
    over at the end; the count, max(largest group, ceil(rows / batch_size)), is the least possible
    and the same for every seed.
    """
    rng = random.Random(seed)
    queues: dict[int, list[int]] = {}
    for row, group in enumerate(groups):
        queues.setdefault(group, []).append(row)
    for rows in queues.values():
        rng.shuffle(rows)
    batches: list[list[int]] = []
    while queues:
        order = sorted(queues, key=lambda g: (-len(queues[g]), rng.random()))
        batch = [queues[g].pop() for g in order[:batch_size]]
        for g in order[:batch_size]:
            if not queues[g]:
                del queues[g]
        rng.shuffle(batch)
        batches.append(batch)
    return batches


def _one_entry_per_batch_sampler(dataset: Any, *, groups: Sequence[int], batch_size: int,
                                 seed: int, **_: Any) -> Any:
    """The trainer's batch sampler (built lazily: it subclasses a torch class)."""
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class OneEntryPerBatchSampler(DefaultBatchSampler):
        # NO_DUPLICATES compares texts, not entries: two different phrasings of one entry would
        # still share a batch. This sampler knows the entry of every row.
        def __iter__(self):
            yield from plan_batches(groups, self.batch_size, self.seed + self.epoch)

        def __len__(self) -> int:
            return len(plan_batches(groups, self.batch_size, self.seed))

    return OneEntryPerBatchSampler(dataset, batch_size=batch_size, drop_last=False, seed=seed)


def _contrastive_loss(model: Any) -> Any:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    # Symmetric: phrasing → sibling and sibling → phrasing, each its own softmax.
    return MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"),
                                        partition_mode="per_direction")


def tune_embedder(base_model_path: str, entries: list[Entry], out_dir: Path, *, epochs: int = 3,
                  learning_rate: float = 5e-5, batch_size: int = 32, seed: int = 0,
                  progress: bool = False, device: str = "auto",
                  freeze_word_embeddings: bool = False) -> TuneReport:
    """Fine-tune the sentence-transformers model at `base_model_path` on `entries`' phrasings and
    save it to `out_dir` (replaced atomically: readers see the old folder or the new one).

    `freeze_word_embeddings`: keep the vocabulary matrix fixed (multilingual-e5-small: 96M of its
    118M parameters; faster, and leaves the languages the KB does not use untouched).
    """
    import transformers
    try:
        from datasets import Dataset
    except ImportError as error:  # sentence-transformers' trainer needs it; serving does not
        raise RuntimeError("tuning needs the `datasets` package: pip install 'sentence-transformers[train]'") from error
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)

    start = time.perf_counter()
    choice = resolve_device(device)
    transformers.set_seed(seed)
    out_dir = Path(out_dir)
    model = SentenceTransformer(base_model_path, device=choice.device,
                                local_files_only=Path(base_model_path).exists())
    # The trainer's model-card bookkeeping would look datasets up on the Hub and embed examples.
    model.model_card_data.local_files_only = True
    model.model_card_data.generate_widget_examples = False
    if freeze_word_embeddings:
        model[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    rows = build_pairs(entries, seed=seed)
    if not rows:
        raise ValueError("nothing to tune on: the knowledge base has no phrasings")
    dataset = Dataset.from_dict({"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]})
    loss = _contrastive_loss(model)
    # Train with the prompt the model adds at encode time (e5: "query: "), or the two drift apart.
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_work(out_dir)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}-", dir=out_dir.parent))
    try:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(work / "trainer"), num_train_epochs=epochs, learning_rate=learning_rate,
            per_device_train_batch_size=batch_size, warmup_steps=WARMUP_RATIO, seed=seed,
            data_seed=seed, save_strategy="no", logging_strategy="no", report_to="none",
            disable_tqdm=not progress, use_cpu=not choice.is_gpu, prompts=prompt,
            bf16=choice.dtype_name == "bfloat16", fp16=choice.dtype_name == "float16",
            batch_sampler=partial(_one_entry_per_batch_sampler, groups=[r[2] for r in rows]),
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
        if not progress:
            trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.train()
        model.save(str(work / "model"), create_model_card=False)
        report = TuneReport(out_dir=out_dir, base_model=str(base_model_path), pairs=len(rows),
                            epochs=epochs, seconds=round(time.perf_counter() - start, 1),
                            data_hash=data_hash(entries))
        recipe = {"learning_rate": learning_rate, "batch_size": batch_size, "seed": seed,
                  "positives_per_phrasing": POSITIVES_PER_PHRASING, "device": choice.device,
                  "freeze_word_embeddings": freeze_word_embeddings}
        (work / "model" / TUNING_FILE).write_text(
            json.dumps({**asdict(report), "out_dir": str(out_dir), **recipe}, indent=2))
        _replace_folder(work / "model", out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def tuned_from(model: str) -> str | None:
    """The base model a tuned model folder was made from, or None if `model` is not one."""
    record = Path(model) / TUNING_FILE
    if not record.is_file():
        return None
    return json.loads(record.read_text())["base_model"]


def _remove_stale_work(out_dir: Path, older_than_s: float = 86_400) -> None:
    # A killed run leaves its temporary folder behind (`finally` never ran); a day-old one is dead
    # (a CPU run can take an hour or more, so younger ones may still be in use).
    for folder in out_dir.parent.glob(f".tmp-{out_dir.name}-*"):
        if time.time() - folder.stat().st_mtime > older_than_s:
            shutil.rmtree(folder, ignore_errors=True)


def _replace_folder(new: Path, target: Path) -> None:
    # os.replace cannot swap a non-empty folder in one step: move the old one aside first (a
    # reader may find no folder for that instant, never a half-written one).
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.urandom(3).hex()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
