"""The supervised data set: every phrasing of every entry → that entry's answer.

Each example's prompt is the one the engine would build if a customer typed the phrasing: the
engine's own `decide` (guard, language detection, retrieval with the serving index and settings)
gives the hits, and `chatbot.stages.prompts.build_messages` renders them, so training sees exactly the
context, numbering and rules that serving shows. The target is the entry's answer on one line
(the generator stops at the first newline) citing the entry's number in the prompt.

A share of the alternates is held out (seeded): their answers are learnt from the entries' other
phrasings, but those questions are never trained on, so the held-out metrics measure
generalisation to new wordings, not recall. Every language of the KB is covered, since every
entry's phrasings are. Logged turns that staff approved or corrected are added to the training
side (`approved_turn_examples`); an evaluation set of real paraphrases can replace or join the
held-out phrasings (`chatbot.finetune.evalset`).

    >>> split = split_phrasings(entries, holdout=0.2, seed=0)
    >>> train, skipped = build_examples(services.engine, split.train)
"""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from tqdm.auto import tqdm

from chatbot.stages.grounding import strip_citations
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import build_messages
from chatbot.conversations.labels import APPROVED, REVIEWS
from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore
    from chatbot.engine import ChatEngine, Decision


@dataclass(frozen=True)
class Example:
    """One supervised example: the request the engine builds for `phrasing`, and the answer."""

    entry_id: str
    phrasing: str
    request: GenerationRequest
    target: str  # what the model should write: the answer on one line, then "[n]"
    source: str = "kb"  # "kb": an entry's phrasing; "turn": a logged turn staff approved or
    # corrected; "eval": a line of an evaluation set (measured, never trained on)

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


def serving_request(engine: "ChatEngine", decision: "Decision") -> GenerationRequest:
    """The request the engine builds for `decision` in a fresh conversation (so no history)."""
    settings = engine.settings
    return GenerationRequest(decision.checked.text, decision.language, decision.hits, [],
                             settings.max_new_tokens, settings.context_window)


def prompt_example(engine: "ChatEngine", entry_id: str, text: str, answer: str,
                   source: str = "kb") -> tuple[Example | None, str]:
    """`text` prompted through `engine.decide` as at serving time, with `answer` as the target
    citing `entry_id`'s number among the hits: (the example, "") or (None, why it was skipped).

    A text the guard refuses or the engine abstains on never reaches the generator when served,
    and one whose entry is not among the hits would teach the model to answer from nothing.
    """
    decision = engine.decide(text)
    if not decision.checked.ok:
        return None, "refused by the guard"
    if decision.abstained:
        return None, "below the answer threshold"
    numbers = [n for n, hit in enumerate(decision.hits, start=1) if hit.entry.id == entry_id]
    if not numbers:
        return None, "entry not retrieved"
    request = serving_request(engine, decision)
    return Example(entry_id, text, request, target_answer(answer, numbers[0]), source), ""


def build_examples(engine: "ChatEngine", pairs: Sequence[tuple[Entry, str]],
                   progress: bool = False) -> tuple[list[Example], Counter]:
    """One example per (entry, phrasing), prompted through `engine.decide` as at serving time
    (`prompt_example`). Returns the examples and a count of the pairs skipped, by reason."""
    examples: list[Example] = []
    skipped: Counter = Counter()
    for entry, phrasing in tqdm(pairs, desc="building prompts", unit="phrasing", disable=not progress):
        example, why = prompt_example(engine, entry.id, phrasing, entry.answer)
        if example is None:
            skipped[why] += 1
        else:
            examples.append(example)
    return examples, skipped


def phrasing_key(text: str) -> str:
    """`text` case-folded with its blanks collapsed: two phrasings with one key are one question."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def approved_turn_examples(store: "ConversationStore", engine: "ChatEngine", exclude: Collection[str] = (),
                           progress: bool = False) -> tuple[list[Example], Counter]:
    """Training examples from logged turns that staff approved or corrected, and the turns skipped.

    "approved": the target is the answer the bot logged; "corrected": the staff's corrected text.
    The turn's customer message (as logged, PII redacted) is prompted again through the engine
    like a KB phrasing (`prompt_example`), so the context is what serving retrieves today, at the
    current KB version; the target cites the labelled entry's number among those hits (the logged
    answer's own [n] referred to the hits of that day, so they are dropped). Skipped, by reason:
    turns labelled out of scope (the bot should not answer them: nothing to learn to write),
    an approved abstention or refusal (its logged reply is a canned message, not an answer),
    an empty target, a message whose key is in `exclude` (a held-out question must not be trained
    on), and whatever `prompt_example` skips (the engine now abstains, the entry is not retrieved).
    These examples are trained on, never held out: the held-out metrics stay comparable.
    """
    examples: list[Example] = []
    skipped: Counter = Counter()
    excluded = {phrasing_key(text) for text in exclude}
    turns = store.labelled_turns(reviews=set(REVIEWS))
    for turn in tqdm(turns, desc="building prompts", unit="turn", disable=not progress):
        target = " ".join(strip_citations(turn.target_answer or "").split())
        if turn.expected_id is None:
            skipped["labelled out of scope"] += 1
        elif turn.label.review == APPROVED and turn.decision != "answer":
            skipped["approved a reply that was not an answer"] += 1
        elif not target:
            skipped["no answer to learn"] += 1
        elif phrasing_key(turn.question) in excluded:
            skipped["a held-out question"] += 1
        else:
            example, why = prompt_example(engine, turn.expected_id, turn.question, target, source="turn")
            if example is None:
                skipped[why] += 1
            else:
                examples.append(example)
    return examples, skipped


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
