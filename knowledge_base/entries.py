"""The knowledge-base entry: what support staff write, what retrieval finds, what answers cite.

`Entry.validate` is the boundary every entry passes before it is stored: each text field is made
storable (`knowledge_base.storable`: no lone surrogate, no NUL) and checked against the limit of
its column, so that neither the database nor the index snapshot can refuse an entry later.
Entries read back from the database pass `Entry.with_storable_text` (rows written by an older
version may hold a lone surrogate), so nothing one entry holds can stop an index build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from knowledge_base.storable import length_problem, storable

# Ids appear in URLs, CSV files and citations, so they are kept to a safe, readable alphabet.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_QUESTION_CHARS = 1_000
MAX_ALTERNATE_CHARS = MAX_QUESTION_CHARS  # an alternate is another phrasing of the question
MAX_ANSWER_CHARS = 20_000
MAX_CATEGORY_CHARS = 200  # the column kb_entries.category is String(200)
MAX_LANGUAGE_CHARS = 16  # the column kb_entries.language is String(16)
# Tags and URLs live in unbounded columns; these limits keep them what they are meant to be
# (a label, a link) and keep one entry's row and snapshot line small.
MAX_TAG_CHARS = 100
MAX_URL_CHARS = 2_048
_SHOWN_CHARS = 40  # how much of a refused value an error message quotes


class EntryError(ValueError):
    """An entry that cannot be stored, with a message meant for the person who wrote it."""


def kind_of(value: Any) -> str:
    """What a non-text value is, in the words of a JSON file's author ("a number", "a list")."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _text(name: str, value: Any) -> str:
    """`value` made storable when it is text (None is empty); `EntryError` for anything else."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"{name} must be text, not {kind_of(value)}")
    return storable(value)


def _texts(name: str, values: Any) -> list[str]:
    """Each item of the list `values` made storable; `EntryError` naming the item that is not text."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise EntryError(f"{name} must be a list of text, not {kind_of(values)}")
    return [_text(f"{name} item {number}", value) for number, value in enumerate(values, start=1)]


def _check_length(name: str, text: str, limit: int) -> None:
    problem = length_problem(name, text, limit)
    if problem:
        raise EntryError(problem)


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


@dataclass(slots=True)
class Entry:
    """One FAQ entry.

    `alternates` are other phrasings of `question`; each phrasing is embedded and maps back to
    this entry. `version` is the knowledge-base version at which the entry last changed.
    """

    id: str
    question: str
    answer: str
    alternates: list[str] = field(default_factory=list)
    category: str = ""
    language: str = ""
    tags: list[str] = field(default_factory=list)
    url: str = ""
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def phrasings(self) -> list[str]:
        """The question followed by its alternates, without blanks or repeats."""
        seen: set[str] = set()
        out: list[str] = []
        for text in [self.question, *self.alternates]:
            key = text.strip()
            if key and key.casefold() not in seen:
                seen.add(key.casefold())
                out.append(key)
        return out

    def validate(self) -> "Entry":
        """Check the fields and return a cleaned copy whose every text is storable; raise
        `EntryError` naming the field (and its limit) that is wrong.

        >>> Entry("a", "Why?", "Because.", category="x" * 300).validate()
        Traceback (most recent call last):
        EntryError: category is 300 characters; the limit is 200
        """
        entry_id = _text("id", self.id).strip()
        if not _ID_PATTERN.match(entry_id):
            raise EntryError(
                f"id {_shown(entry_id)} is not valid: use 1-128 letters, digits, '_', '-', '.', ':'"
            )
        question = " ".join(_text("question", self.question).split())
        answer = _text("answer", self.answer).strip()
        if not question:
            raise EntryError("question is empty")
        if not answer:
            raise EntryError("answer is empty")
        _check_length("question", question, MAX_QUESTION_CHARS)
        _check_length("answer", answer, MAX_ANSWER_CHARS)
        alternates = [" ".join(a.split()) for a in _texts("alternates", self.alternates) if a.strip()]
        for number, alternate in enumerate(alternates, start=1):
            _check_length(f"alternate {number}", alternate, MAX_ALTERNATE_CHARS)
        category = _text("category", self.category).strip()
        language = _text("language", self.language).strip().lower()
        tags = [t.strip() for t in _texts("tags", self.tags) if t.strip()]
        url = _text("url", self.url).strip()
        _check_length("category", category, MAX_CATEGORY_CHARS)
        _check_length("language", language, MAX_LANGUAGE_CHARS)
        for number, tag in enumerate(tags, start=1):
            _check_length(f"tag {number}", tag, MAX_TAG_CHARS)
        _check_length("url", url, MAX_URL_CHARS)
        return Entry(
            id=entry_id,
            question=question,
            answer=answer,
            alternates=alternates,
            category=category,
            language=language,
            tags=tags,
            url=url,
            version=self.version,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def with_storable_text(self) -> "Entry":
        """A copy whose every text is storable, checking nothing else: for entries read back
        from the database, which were valid when written but may hold a lone surrogate that an
        older version let through (and that would stop an index snapshot from being written).
        A non-text value where text belongs (an older row's JSON list) becomes its `str`."""
        def text(value: Any) -> str:
            return storable(value if isinstance(value, str) else "" if value is None else str(value))

        return replace(
            self, id=text(self.id), question=text(self.question), answer=text(self.answer),
            alternates=[text(a) for a in self.alternates or []], category=text(self.category),
            language=text(self.language), tags=[text(t) for t in self.tags or []], url=text(self.url),
        )

    def to_dict(self) -> dict:
        """The entry as the import/export format of DESIGN.md (lists kept as lists)."""
        return {
            "id": self.id,
            "question": self.question,
            "alternates": list(self.alternates),
            "answer": self.answer,
            "category": self.category,
            "language": self.language,
            "tags": list(self.tags),
            "url": self.url,
        }
