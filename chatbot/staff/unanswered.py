"""The unanswered queue: similar unanswered questions grouped, the most frequent first.

Turns (`chatbot.conversations.unanswered`) are grouped by their embeddings with scikit-learn's
agglomerative clustering (average linkage on cosine distance): a question joins a group when its
mean similarity to the group's questions is at least `group_similarity(model)`. An English
model scores Chinese near zero, so unless the embedder is multilingual Chinese (Japanese, Korean)
questions are grouped apart from the rest; a multilingual one (e5) groups "how do I get a
refund" with "如何退款".

A group's id names its oldest turn and a digest of that turn's text (`"417-3fa2c1"`): it stays the
same while new questions join the group, so `promote GROUP` works on an id listed earlier. It is
found again by that turn (`find_group`); once the turn is promoted or labelled it is gone.

    >>> groups = group_turns(turns, embedder.encode, group_similarity(embedder.model_name))
    >>> [(g.group, g.count, g.examples[0]) for g in groups]
    [("417-3fa2c1", 5, "can i pay in yen"), ...]
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Sequence

import numpy as np

from chatbot.conversations.unanswered import QueueTurn

EXAMPLES = 5  # questions a group shows
# Least mean cosine of a question to its group. MiniLM puts paraphrases of one banking intent
# at 0.55-0.8 and neighbouring intents at 0.4-0.6 (at 0.65, 87 % of 1,500 BANKING77 questions
# fell in groups of their own intent); e5's scale is compressed near 0.8-0.95.
MINILM_SIMILARITY = 0.65
MULTILINGUAL_SIMILARITY = 0.88
CJK_LANGUAGES = {"zh", "zh-cn", "zh-tw", "ja", "ko"}  # the scripts an English model cannot compare
_GROUP_ID = re.compile(r"^(\d{1,18})-([0-9a-f]{6})$")


@dataclass(frozen=True)
class UnansweredGroup:
    """Similar unanswered questions: `count` askings (a question asked twice in one conversation
    counts once), `examples` the most typical first, and the turns they were asked in."""

    group: str
    count: int
    examples: list[str]
    languages: list[str]
    first_seen: datetime
    last_seen: datetime
    reasons: dict[str, int]  # "abstain" | "clarify" | "thumbs_down" | "handoff" -> askings
    questions: list[str] = field(default_factory=list)  # every distinct question, the most typical first
    turns: list[QueueTurn] = field(default_factory=list)

    @property
    def turn_ids(self) -> list[int]:
        return [t.turn_id for t in self.turns]

    def turns_of(self, questions: Sequence[str]) -> list[QueueTurn]:
        """The group's turns that asked one of `questions` (any case)."""
        wanted = {q.casefold() for q in questions}
        return [t for t in self.turns if t.text.casefold() in wanted]

    @property
    def language(self) -> str:
        """The group's most common language ("" when none was detected)."""
        return self.languages[0] if self.languages else ""


def is_multilingual(model_name: str) -> bool:
    """Whether the embedding model places languages in one space (multilingual-e5, tuned or not)."""
    return "multilingual" in model_name.lower()


def group_similarity(model_name: str) -> float:
    """The least mean cosine of a question to its group, on `model_name`'s scale."""
    return MULTILINGUAL_SIMILARITY if is_multilingual(model_name) else MINILM_SIMILARITY


def group_id(turn: QueueTurn) -> str:
    """The id of the group whose oldest turn is `turn`."""
    digest = hashlib.sha256(turn.text.casefold().encode("utf-8", "replace")).hexdigest()[:6]
    return f"{turn.turn_id}-{digest}"


def parse_group_id(group: str) -> int | None:
    """The turn id that a well-formed group id names, else None."""
    match = _GROUP_ID.match(group.strip())
    return int(match.group(1)) if match else None


@dataclass
class _Asking:
    """One question as asked in one conversation (repeats folded), with all its turns."""

    text: str
    language: str
    turns: list[QueueTurn]


def _askings(turns: Sequence[QueueTurn]) -> list[_Asking]:
    by_key: dict[tuple[str, str], _Asking] = {}
    for turn in sorted(turns, key=lambda t: t.turn_id):
        if not turn.text:
            continue
        key = (turn.conversation_id, turn.text.casefold())
        if key not in by_key:
            by_key[key] = _Asking(turn.text, turn.language, [])
        by_key[key].turns.append(turn)
    return list(by_key.values())


def _script(language: str) -> str:
    """The partition of a language when each is grouped apart: Chinese, Japanese and Korean on
    their own, the rest together (langdetect reads short English as Dutch or Afrikaans at times,
    which must not split a group)."""
    return language if language in CJK_LANGUAGES else ""


def _clusters(vectors: np.ndarray, similarity: float) -> np.ndarray:
    """A cluster label per row (unit vectors): average linkage, cut at 1 - `similarity`."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    clustering = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=1.0 - similarity)
    return clustering.fit_predict(vectors)


def group_turns(turns: Sequence[QueueTurn], encode: Callable[[list[str]], np.ndarray], similarity: float,
                by_language: bool = True) -> list[UnansweredGroup]:
    """Group `turns` (see the module's docstring), the most asked first (then the latest seen).
    `encode` gives unit vectors; `by_language` groups each language apart."""
    askings = _askings(turns)
    if not askings:
        return []
    texts = list(dict.fromkeys(a.text for a in askings))
    row_of = {text: row for row, text in enumerate(texts)}
    vectors = np.asarray(encode(texts), dtype=np.float32)
    partitions: dict[str, list[int]] = {}
    for index, asking in enumerate(askings):
        partitions.setdefault(_script(asking.language) if by_language else "", []).append(index)
    groups = []
    for members in partitions.values():
        labels = _clusters(vectors[[row_of[askings[i].text] for i in members]], similarity)
        for label in np.unique(labels):
            chosen = [askings[members[i]] for i in np.flatnonzero(labels == label)]
            groups.append(_group(chosen, vectors[[row_of[a.text] for a in chosen]]))
    return sorted(groups, key=lambda g: (-g.count, -g.last_seen.timestamp(), g.group))


def _group(askings: list[_Asking], vectors: np.ndarray) -> UnansweredGroup:
    """A group's record; its questions ordered by mean similarity to the others (the medoid first)."""
    typical = (vectors @ vectors.T).mean(axis=1)
    order = sorted(range(len(askings)), key=lambda i: (-typical[i], askings[i].turns[0].turn_id))
    questions = list(dict.fromkeys(askings[i].text for i in order))
    turns = [t for a in askings for t in a.turns]
    oldest = min(turns, key=lambda t: t.turn_id)
    languages = [lang for lang, _ in Counter(a.language for a in askings if a.language).most_common()]
    reasons = Counter(a.turns[0].reason for a in askings)
    return UnansweredGroup(group_id(oldest), len(askings), questions[:EXAMPLES], languages,
                           min(t.created_at for t in turns), max(t.created_at for t in turns), dict(reasons),
                           questions, sorted(turns, key=lambda t: t.turn_id))


def find_group(groups: Sequence[UnansweredGroup], group: str) -> UnansweredGroup | None:
    """The group whose id is `group`, or the one now holding the turn it names (its members may
    have changed since it was listed), or None."""
    turn_id = parse_group_id(group)
    if turn_id is None:
        return None
    for candidate in groups:
        if candidate.group == group.strip():
            return candidate
    return next((g for g in groups if turn_id in g.turn_ids), None)
