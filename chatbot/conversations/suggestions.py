"""The questions a chat greets its customer with: the entries customers ask about most.

    >>> suggested_questions(store, entries, "zh", limit=4)
    ['发货需要多长时间？', '可以退货吗？', ...]

"Most asked" is read from the log: the entry each recently answered turn cited first, counted.
A new shop has no log yet, so the knowledge base's own entries fill the list up, in its order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore

# How far back "most asked" looks: enough turns to be stable, few enough to read at each page load.
RECENT_TURNS = 2000


def most_asked_entry_ids(store: "ConversationStore", recent: int = RECENT_TURNS) -> list[str]:
    """Entry ids by how often the last `recent` answered turns cited them first, most first."""
    counts = Counter(turn.top_entry_id for turn in store.recent_turns(recent)
                     if turn.decision == "answer" and turn.top_entry_id)
    return [entry_id for entry_id, _ in counts.most_common()]


def suggested_questions(store: "ConversationStore", entries: Sequence[Entry], language: str,
                        limit: int = 4) -> list[str]:
    """Up to `limit` questions for a customer who writes `language`: the most asked entries in
    that language first, then the knowledge base's other entries in it; entries of no stated
    language count as any language's."""
    fitting = {entry.id: entry for entry in entries if entry.language in ("", language)}
    if not fitting:  # a shop with no entries in this language: suggest what there is
        fitting = {entry.id: entry for entry in entries}
    ordered = [fitting[i] for i in most_asked_entry_ids(store) if i in fitting]
    chosen = {entry.id for entry in ordered}
    ordered += [entry for entry in fitting.values() if entry.id not in chosen]
    questions: list[str] = []
    for entry in ordered:
        if entry.question not in questions:
            questions.append(entry.question)
        if len(questions) == limit:
            break
    return questions
