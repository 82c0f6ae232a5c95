"""The knowledge-base entry: what support staff write, what retrieval finds, what answers cite."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# Ids appear in URLs, CSV files and citations, so they are kept to a safe, readable alphabet.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_QUESTION_CHARS = 1_000
MAX_ANSWER_CHARS = 20_000


class EntryError(ValueError):
    """An entry that cannot be stored, with a message meant for the person who wrote it."""


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
        """Check the fields and return a cleaned copy; raise `EntryError` saying what is wrong."""
        entry_id = (self.id or "").strip()
        if not _ID_PATTERN.match(entry_id):
            raise EntryError(
                f"id {self.id!r} is not valid: use 1-128 letters, digits, '_', '-', '.', ':'"
            )
        question = " ".join((self.question or "").split())
        answer = (self.answer or "").strip()
        if not question:
            raise EntryError("question is empty")
        if not answer:
            raise EntryError("answer is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise EntryError(f"question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
        if len(answer) > MAX_ANSWER_CHARS:
            raise EntryError(f"answer is {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}")
        alternates = [" ".join(a.split()) for a in self.alternates if a and a.strip()]
        return Entry(
            id=entry_id,
            question=question,
            answer=answer,
            alternates=alternates,
            category=(self.category or "").strip(),
            language=(self.language or "").strip().lower(),
            tags=[t.strip() for t in self.tags if t and t.strip()],
            url=(self.url or "").strip(),
            version=self.version,
            created_at=self.created_at,
            updated_at=self.updated_at,
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
