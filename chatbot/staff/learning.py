"""Labelled questions become phrasings of their entries (DESIGN.md "Learn from every labelled
question"): a question that staff labelled with an entry, promoted into it, or that a customer
resolved by choosing it in a "Did you mean …?", is added to the entry's alternates, so that the
next customer who asks it so is answered.

Which labels are still to learn is read from what is stored, without a flag of its own: a label
is learned when it is newer than its entry's last change and its question is not yet one of the
entry's phrasings. An entry that staff edit afterwards (removing a learned alternate, say) keeps
their edit: older labels are not learned again.

    >>> learned = with_phrasings(entry, ["can i pay with apple pay"])   # None: nothing to add
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from chatbot.conversations.labels import LabelledTurn
from chatbot.conversations.records import as_utc
from knowledge_base.entries import MAX_ALTERNATE_CHARS, Entry

# Alternates an entry gets from labels at most: each is a vector in the index and a row in the
# head's fit; past this, more phrasings of one entry add little and slow every update of it.
MAX_LEARNED_ALTERNATES = 200


def phrasing_key(text: str) -> str:
    """How phrasings are compared: spaces folded, any case (as `Entry.phrasings` dedupes)."""
    return " ".join(text.split()).casefold()


def with_phrasings(entry: Entry, texts: Iterable[str], limit: int = MAX_LEARNED_ALTERNATES) -> Entry | None:
    """`entry` with the `texts` that are not yet its phrasings added as alternates (in order, up
    to `limit` alternates in all, each within the alternates' size limit); None when none is new."""
    known = {phrasing_key(p) for p in entry.phrasings}
    added: list[str] = []
    for text in texts:
        text = " ".join(text.split())
        key = phrasing_key(text)
        if not text or key in known or len(text) > MAX_ALTERNATE_CHARS:
            continue
        if len(entry.alternates) + len(added) >= limit:
            break
        known.add(key)
        added.append(text)
    return replace(entry, alternates=[*entry.alternates, *added]) if added else None


def labels_to_learn(labelled: Sequence[LabelledTurn], entries: dict[str, Entry]) -> dict[str, list[str]]:
    """Entry id -> the questions of its labels still to learn (see the module's docstring)."""
    pending: dict[str, list[str]] = {}
    for turn in labelled:
        entry = entries.get(turn.expected_id or "")
        text = turn.query.strip() or turn.question.strip()
        if entry is None or not text or not _newer(turn.label.labelled_at, entry.updated_at):
            continue
        pending.setdefault(entry.id, []).append(text)
    return pending


def _newer(labelled_at: datetime, changed_at: datetime | None) -> bool:
    return changed_at is None or as_utc(labelled_at) > as_utc(changed_at)


def learned_phrasing(turn: LabelledTurn, entries: dict[str, Entry]) -> bool:
    """Whether the labelled question is one of its entry's phrasings now: then the index holds
    it, and it would score itself as a calibration label (an exact match, always right)."""
    entry = entries.get(turn.expected_id or "")
    text = phrasing_key(turn.query)
    return entry is not None and any(phrasing_key(p) == text for p in entry.phrasings)
