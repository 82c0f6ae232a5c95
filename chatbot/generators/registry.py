"""Versions of the generative model made by `chatbot finetune`, and which one is promoted.

Layout under `CHATBOT_HOME/models/generator/`:

    versions/<id>/card.json     what the version is: base model, data hash, settings, metrics
    versions/<id>/adapter/      a LoRA adapter (peft), merged into the base weights when loaded
    versions/<id>/model/        or, after full fine-tuning, the whole model (+ tokenizer)
    promoted.json               {"promoted": id | null, "previous": [ids promoted before]}

A version folder appears whole or not at all (written beside, then renamed). The pointer file is
replaced atomically, so a serving process that reads it sees the old or the new promotion.

    >>> registry = ModelRegistry(settings.models_dir)
    >>> registry.promote("smollm2-20250101-120000-ab12")
    >>> registry.rollback()  # back to the version promoted before, or to the base model (None)

Pure file handling: no torch, no model.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
POINTER_FILE = "promoted.json"
ADAPTER_DIR = "adapter"  # kind "lora"
MODEL_DIR = "model"  # kind "full"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ModelVersionError(ValueError):
    """A model version that does not exist or cannot be read; the message says which and why."""


@dataclass
class ModelCard:
    """What a fine-tuned version is, how it was made, and how it did on the held-out phrasings.

    `base` is the generator's model as the `generator` setting resolves it ("smollm2", a folder,
    a hub id): a version serves only where that same base is configured. `metrics` holds
    "before" (the base model) and "after" (this version), each with `n`, `exact_answer`,
    `grounded_rate`, `mean_answer_chars`, `loss` (mean cross-entropy of the answer tokens) and
    `by_language` (the first four per reply language).
    """

    id: str
    base: str
    kind: str  # "lora" | "full"
    created: str  # ISO 8601, UTC
    data_hash: str
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def metric_change(self, key: str) -> str:
        """A held-out metric as "before->after" (e.g. "0.4->0.7"), or "-" when neither was measured."""
        before, after = self.metrics.get("before", {}).get(key), self.metrics.get("after", {}).get(key)
        return "-" if before is None and after is None else f"{before}->{after}"

    @classmethod
    def read(cls, path: Path) -> "ModelCard":
        """The card at `path`; ModelVersionError if it is missing or not a card."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(**raw)
        except FileNotFoundError:
            raise ModelVersionError(f"{path} is missing: not a model version folder") from None
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise ModelVersionError(f"{path} is not a readable model card: {error}") from None


def new_version_id(base: str) -> str:
    """A sortable, unique id: the base model's short name, the UTC time, 4 random hex digits."""
    short = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(base.rstrip("/")).name).strip("-.").lower() or "model"
    return f"{short[:40]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ModelRegistry:
    """The fine-tuned versions under `models_dir/generator` and the promotion pointer."""

    def __init__(self, models_dir: Path) -> None:
        self.root = Path(models_dir) / "generator"
        self.versions_dir = self.root / "versions"
        self.pointer = self.root / POINTER_FILE

    # -- versions --------------------------------------------------------------------------
    def version_dir(self, version_id: str) -> Path:
        return self.versions_dir / version_id

    def list_versions(self) -> list[ModelCard]:
        """Every complete version, oldest first; unreadable cards are skipped, not fatal."""
        if not self.versions_dir.is_dir():
            return []
        cards = []
        for folder in self.versions_dir.iterdir():
            if folder.name.startswith(".") or not (folder / CARD_FILE).is_file():
                continue  # a version being written, or debris
            try:
                cards.append(ModelCard.read(folder / CARD_FILE))
            except ModelVersionError:
                continue
        return sorted(cards, key=lambda card: (card.created, card.id))

    def get(self, version_id: str) -> ModelCard:
        """The card of `version_id`; ModelVersionError naming the known ids if there is none."""
        if not isinstance(version_id, str) or not _ID.match(version_id):
            raise ModelVersionError(f"{version_id!r} is not a model version id")
        path = self.version_dir(version_id) / CARD_FILE
        if not path.is_file():
            known = [card.id for card in self.list_versions()]
            hint = f"known: {', '.join(known)}" if known else "there are none yet: run `chatbot finetune`"
            raise ModelVersionError(f"no model version {version_id!r} ({hint})")
        return ModelCard.read(path)

    def weights_dir(self, card: ModelCard) -> Path:
        """The adapter folder (kind "lora") or model folder (kind "full") of a version."""
        return self.version_dir(card.id) / (ADAPTER_DIR if card.kind == "lora" else MODEL_DIR)

    def work_dir(self, version_id: str) -> Path:
        """An empty hidden folder to write a version into before `commit` renames it into place."""
        work = self.versions_dir / f".tmp-{version_id}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return work

    def commit(self, work: Path, card: ModelCard) -> Path:
        """Write `card` into `work` and rename it to the version's folder; returns that folder."""
        (work / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        target = self.version_dir(card.id)
        os.replace(work, target)
        return target

    # -- promotion -------------------------------------------------------------------------
    def _read_pointer(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.pointer.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"promoted": None, "previous": []}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelVersionError(f"{self.pointer} is damaged ({error}); delete it to serve the base model") from None
        return {"promoted": raw.get("promoted"), "previous": list(raw.get("previous") or [])}

    def _write_pointer(self, promoted: str | None, previous: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.pointer.with_name(f".{POINTER_FILE}.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps({"promoted": promoted, "previous": previous, "changed": utc_now()}, indent=2))
        os.replace(tmp, self.pointer)

    def promoted(self) -> str | None:
        """The promoted version's id, or None when the base model serves."""
        return self._read_pointer()["promoted"]

    def pointer_stamp(self) -> tuple[int, int, int] | None:
        """A cheap token that changes whenever the pointer file is replaced (one `stat`)."""
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino, st.st_size)

    def promote(self, version_id: str) -> ModelCard:
        """Serve `version_id` from now on; the version it replaces is remembered for `rollback`."""
        card = self.get(version_id)
        if not self.weights_dir(card).is_dir():
            raise ModelVersionError(f"model version {version_id!r} has no weights at {self.weights_dir(card)}")
        pointer = self._read_pointer()
        if pointer["promoted"] != version_id:
            previous = pointer["previous"] + ([pointer["promoted"]] if pointer["promoted"] else [])
            self._write_pointer(version_id, previous)
        return card

    def rollback(self) -> str | None:
        """Go back to the version promoted before the current one (skipping deleted ones), or to
        the base model; returns the id now promoted, or None for the base."""
        pointer = self._read_pointer()
        if pointer["promoted"] is None:
            raise ModelVersionError("nothing to roll back: the base model is already serving")
        previous = pointer["previous"]
        while previous and not (self.version_dir(previous[-1]) / CARD_FILE).is_file():
            previous.pop()
        target = previous.pop() if previous else None
        self._write_pointer(target, previous)
        return target
