"""The supervised data set: every phrasing of every entry → that entry's answer.

Each example's prompt is the one the engine would build if a customer typed the phrasing: the
engine's own `decide` (guard, language detection, retrieval with the serving index and settings)
gives the hits, and `chatbot.prompts.build_messages` renders them, so training sees exactly the
context, numbering and rules that serving shows. The target is the entry's answer on one line
(the generator stops at the first newline) citing the entry's number in the prompt.

A share of the alternates is held out (seeded): their answers are learnt from the entries' other
phrasings, but those questions are never trained on, so the held-out metrics measure
generalisation to new wordings, not recall. Every language of the KB is covered, since every
entry's phrasings are.

    >>> split = split_phrasings(entries, holdout=0.2, seed=0)
    >>> train, skipped = build_examples(services.engine, split.train)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from tqdm.auto import tqdm

from chatbot.messages import GenerationRequest
from chatbot.prompts import build_messages
from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from chatbot.conversation_store import ConversationStore
    from chatbot.engine import ChatEngine


@dataclass(frozen=True)
class Example:
    """One supervised example: the request the engine builds for `phrasing`, and the answer."""

    entry_id: str
    phrasing: str
    request: GenerationRequest
    target: str  # what the model should write: the answer on one line, then "[n]"
    source: str = "kb"  # "kb": an entry's phrasing; "turn": a logged turn staff approved

    @property
    def language(self) -> str:
        return self.request.language

    @property
    def messages(self) -> list[dict[str, str]]:
        """The chat the local generator sends for this request (system, history, user)."""
        return build_messages(self.request)


@dataclass(frozen=True)
class PhrasingSplit:
    """(entry, phrasing) pairs to train on and to hold out."""

    train: list[tuple[Entry, str]]
    heldout: list[tuple[Entry, str]]


def target_answer(answer: str, number: int) -> str:
    """The entry's answer as one line (the generator stops at a newline), citing `[number]`."""
    return f"{' '.join(answer.split())} [{number}]"


def check_split_options(holdout: float, max_examples: int | None) -> None:
    """ValueError, saying why, for a holdout share outside [0, 1) or a cap below 1."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be at least 0 and below 1, not {holdout}")
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be at least 1, not {max_examples}")


def split_phrasings(entries: Sequence[Entry], holdout: float = 0.2, seed: int = 0,
                    max_examples: int | None = None) -> PhrasingSplit:
    """Hold out `holdout` of all phrasings, drawn (seeded) from the alternates only.

    Every entry's main question stays in training, so each held-out phrasing's answer is seen
    through another wording. `max_examples` caps train + held-out together, keeping the share,
    and picks held-out phrasings of entries that are still trained on. The result depends on the
    entries and the seed, not on the entries' order.
    """
    check_split_options(holdout, max_examples)
    rng = random.Random(seed)
    ordered = sorted(entries, key=lambda e: e.id)
    pairs = [(entry, text) for entry in ordered for text in entry.phrasings]
    pool = [(entry, text) for entry in ordered for text in entry.phrasings[1:]]
    held = set(map(_key, rng.sample(pool, min(len(pool), round(holdout * len(pairs))))))
    train = [p for p in pairs if _key(p) not in held]
    heldout = [p for p in pairs if _key(p) in held]
    if max_examples is not None and max_examples < len(pairs):
        n_held = min(len(heldout), round(max_examples * holdout), max_examples - 1)
        train = rng.sample(train, min(len(train), max_examples - n_held))
        kept = {entry.id for entry, _ in train}
        candidates = [p for p in heldout if p[0].id in kept]
        heldout = rng.sample(candidates, min(n_held, len(candidates)))
    return PhrasingSplit(sorted(train, key=_key), sorted(heldout, key=_key))


def _key(pair: tuple[Entry, str]) -> tuple[str, str]:
    return pair[0].id, pair[1]


def build_examples(engine: "ChatEngine", pairs: Sequence[tuple[Entry, str]],
                   progress: bool = False) -> tuple[list[Example], Counter]:
    """One example per (entry, phrasing), prompted through `engine.decide` as at serving time.

    Returns the examples and a count of the pairs skipped, by reason: a phrasing the guard
    refuses or the engine abstains on never reaches the generator when served, and one whose
    entry is not among the hits would teach the model to answer from nothing.
    """
    examples: list[Example] = []
    skipped: Counter = Counter()
    for entry, phrasing in tqdm(pairs, desc="building prompts", unit="phrasing", disable=not progress):
        decision = engine.decide(phrasing)
        if not decision.checked.ok:
            skipped["refused by the guard"] += 1
            continue
        if decision.abstained:
            skipped["below the answer threshold"] += 1
            continue
        numbers = [n for n, hit in enumerate(decision.hits, start=1) if hit.entry.id == entry.id]
        if not numbers:
            skipped["entry not retrieved"] += 1
            continue
        # The same request the engine builds: a fresh conversation, so no history.
        request = GenerationRequest(decision.checked.text, decision.language, decision.hits, [],
                                    engine.settings.max_new_tokens)
        examples.append(Example(entry.id, phrasing, request, target_answer(entry.answer, numbers[0])))
    return examples, skipped


def approved_turn_examples(store: "ConversationStore", engine: "ChatEngine",
                           progress: bool = False) -> list[Example]:
    """Training examples from logged turns that staff approved or corrected. Returns [] for now.

    To be wired once the conversation store has turn labels (being added in parallel): it will
    read every logged turn labelled "approved" (target: the logged answer) or "corrected"
    (target: the staff's corrected answer) from `store`, re-prompt the turn's customer message
    through `engine.decide` like a KB phrasing (so the context is what serving builds today, at
    the current KB version), and return one `Example(source="turn")` per turn, with its
    `entry_id` the first cited entry. These examples are trained on, never held out: the
    held-out metrics stay comparable across versions.
    """
    return []


def data_hash(train: Sequence[Example], heldout: Sequence[Example]) -> str:
    """sha256 of exactly what was trained and measured on (prompts and targets), order-independent."""
    lines = sorted(
        json.dumps([split, ex.source, ex.entry_id, ex.messages, ex.target], ensure_ascii=False)
        for split, examples in (("train", train), ("heldout", heldout)) for ex in examples
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def language_counts(train: Sequence[Example], heldout: Sequence[Example]) -> dict[str, dict[str, int]]:
    """{language: {"train": n, "heldout": n}}: what each language contributed."""
    counts: dict[str, dict[str, int]] = {}
    for split, examples in (("train", train), ("heldout", heldout)):
        for ex in examples:
            counts.setdefault(ex.language, {"train": 0, "heldout": 0})[split] += 1
    return dict(sorted(counts.items()))
