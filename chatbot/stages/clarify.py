"""Answer, ask "Did you mean …?", or abstain: the decision on the retrieved entries.

Three calibrated numbers (`Band`) make the decision on the top hit's score and its lead over the
next entry:

- score ≥ `answer` and lead ≥ `margin`: answer with the top entry;
- score ≥ `clarify` (but not sure enough to answer): clarify, offering the top entries;
- below `clarify`: abstain and offer a human.

`answer` is the answer threshold calibrated when the index was built; `clarify` and `margin`
are calibrated with it (`knowledge_base.retrieval.clarify_band`), or set by
`CHATBOT_CLARIFY_THRESHOLD` / `CHATBOT_CLARIFY_MARGIN`. A band with `clarify == answer` and
`margin == 0` is the plain answer/abstain decision.

The competitors of the top entry are the entries in its language: a KB that holds an English
and a Chinese version of one answer should not ask an English customer to choose between them.

    >>> action = decide_action(hits, Band(answer=0.48, clarify=0.40, margin=0.05))
    >>> options = clarify_options(hits)   # up to 3 Options, the top entry first
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.messages import Option
from knowledge_base.retrieval.hits import Hit

MAX_OPTIONS = 3


@dataclass(frozen=True)
class Band:
    """The decision's thresholds on the top hit's score: answer at or above `answer` when the
    lead over the next entry is at least `margin`, clarify at or above `clarify`, else abstain."""

    answer: float
    clarify: float
    margin: float = 0.0


def competitors(hits: list[Hit]) -> list[Hit]:
    """The top hit and the hits of other entries in its language (translations left out)."""
    if not hits:
        return []
    language = hits[0].entry.language
    return [hits[0], *(h for h in hits[1:] if h.entry.id != hits[0].entry.id
                       and h.entry.language in (language, "") )]


def decide_action(hits: list[Hit], band: Band) -> str:
    """"answer", "clarify" or "abstain" for the ranked `hits` (see the module's docstring).

    A clarification needs two entries to choose from: with one, the unsure case abstains.
    """
    ranked = competitors(hits)
    if not ranked:
        return "abstain"
    top = ranked[0].score
    lead = top - ranked[1].score if len(ranked) > 1 else float("inf")
    if top >= band.answer and lead >= band.margin:
        return "answer"
    if top >= min(band.clarify, band.answer) and len(ranked) > 1:
        return "clarify"
    return "answer" if top >= band.answer else "abstain"


def clarify_options(hits: list[Hit], limit: int = MAX_OPTIONS) -> list[Option]:
    """Up to `limit` distinct entries to choose from, best first, each with its question."""
    return [Option(h.entry.id, h.entry.question) for h in competitors(hits)[:limit]]
