"""Held-out examples from evaluation sets: real customer paraphrases, not the KB's own phrasings.

An evaluation set is a `chatbot eval` test set (JSON Lines, `{"query", "expected_id"}`, such as
knowledge_base/demo/testset_en.jsonl): each query becomes an example whose target is the
expected entry's answer, prompted through the engine exactly as serving prompts it
(`chatbot.finetune.dataset.prompt_example`). Such sets measure what a split of the KB cannot:
wordings written apart from the KB, by other people.

Lines that cannot be measured are counted by reason and left out: out of scope (no expected
entry: no answer to compare), an expected entry the KB lacks, a query that is also a KB phrasing
(it would be trained on), and whatever serving would not generate for (the guard refuses it, the
engine abstains, the expected entry is not retrieved).

    >>> examples, skipped = eval_set_examples(engine, entries, [Path("testset_en.jsonl")], limit=30)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Sequence

from tqdm.auto import tqdm

from chatbot.evaluation.cases import Case, load_test_set
from chatbot.finetune.dataset import Example, phrasing_key, prompt_example
from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from chatbot.engine import ChatEngine


def load_eval_cases(paths: Sequence[Path], limit: int | None = None) -> list[Case]:
    """The first `limit` lines (all with None) of each file, in file order; `TestSetError` names
    the file and line of anything unreadable, ValueError a limit below 1."""
    if limit is not None and limit < 1:
        raise ValueError(f"the evaluation limit must be at least 1, not {limit}")
    return [case for path in paths for case in load_test_set(Path(path))[:limit]]


def eval_set_examples(engine: "ChatEngine", entries: Sequence[Entry], cases: Sequence[Case],
                      trained: Collection[str] = (), progress: bool = False) -> tuple[list[Example], Counter]:
    """One `Example(source="eval")` per measurable case, and the cases skipped, by reason.

    `entries`: the live KB (the targets are their answers); `trained`: the phrasings trained on,
    so that a query equal to one of them is not counted as held out.
    """
    by_id = {entry.id: entry for entry in entries}
    seen = {phrasing_key(text) for text in trained}
    examples: list[Example] = []
    skipped: Counter = Counter()
    for case in tqdm(cases, desc="building prompts", unit="query", disable=not progress):
        entry = by_id.get(case.expected_id) if case.expected_id is not None else None
        if case.expected_id is None:
            skipped["out of scope"] += 1
        elif entry is None:
            skipped["expected entry not in the KB"] += 1
        elif phrasing_key(case.query) in seen:
            skipped["also a trained phrasing"] += 1
        else:
            example, why = prompt_example(engine, entry.id, case.query, entry.answer, source="eval")
            if example is None:
                skipped[why] += 1
            else:
                examples.append(example)
    return examples, skipped
