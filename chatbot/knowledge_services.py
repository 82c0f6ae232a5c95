"""The knowledge-base services staff call one entry at a time: find (text, category, language,
tag), read, create, update and delete an entry, and the hit test. Part of the application object
(`chatbot.services.Services` inherits them), so the staff API and a CLI call the same ones.

Every change is one new KB version with its author and optional reason (and a revision of the
entry: `chatbot.kb_history_services` reads and rolls them back), and the index follows it
(`Services.sync_index`, incrementally) before the call returns: the next customer question
uses it.

    >>> services.find_entries(text="refund", language="en").entries
    >>> services.create_entry(Entry("gift-wrap", "Do you gift wrap?", "Yes, for $3."), author="alice")
    >>> services.hit_test("how long is shipping?")        # what the engine would do; logs nothing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.conversations.database import database_errors
from chatbot.errors import Conflict, InvalidInput, UnknownItem
from knowledge_base.entries import Entry, EntryError
from knowledge_base.revisions import MAX_REASON_CHARS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chatbot.engine import ChatEngine
    from chatbot.stages.clarify import Band
    from knowledge_base.index.snapshot import Manifest
    from knowledge_base.repository import KnowledgeBaseRepository

MAX_PAGE = 500  # entries one `find_entries` call returns at most


@dataclass(frozen=True)
class EntryPage:
    """The entries that matched (`total` of them), from `offset`, at most `limit`."""

    total: int
    entries: list[Entry]


@dataclass(frozen=True)
class HitTestResult:
    """What the engine would do with a question, without logging a turn: its language, the text
    retrieved for (a follow-up's rewrite; here the cleaned question), the ranked hits, the
    decision and the band it was decided with. `refused` names a guard's refusal ("too_long", …)."""

    text: str
    language: str
    query: str
    hits: list[tuple[Entry, float, str]]  # entry, score, the phrasing that matched
    action: str  # "answer" | "clarify" | "abstain" | "refused"
    options: list[tuple[str, str]]  # a clarification's (entry id, question)
    band: "Band"
    refused: str = ""


def _matches(entry: Entry, text: str, category: str, language: str, tag: str) -> bool:
    if category and entry.category.casefold() != category.casefold():
        return False
    if language and entry.language != language.lower():
        return False
    if tag and tag.casefold() not in (t.casefold() for t in entry.tags):
        return False
    if text:
        haystack = " ".join([entry.id, entry.question, *entry.alternates, entry.answer]).casefold()
        return all(word in haystack for word in text.casefold().split())
    return True


def check_reason(reason: str) -> None:
    """`InvalidInput` for a change's reason over its limit (a line or two, not a document)."""
    if len(reason.strip()) > MAX_REASON_CHARS:
        raise InvalidInput(f"the reason is {len(reason.strip())} characters; the limit is {MAX_REASON_CHARS}")


def _valid(entry: Entry) -> Entry:
    try:
        return entry.validate()
    except EntryError as error:
        raise InvalidInput(str(error)) from None


class KnowledgeServices:
    """Mixed into `Services`, whose repository, database, engine and `sync_index` these use."""

    database: "Engine"
    knowledge_base: "KnowledgeBaseRepository"
    engine: "ChatEngine"

    if TYPE_CHECKING:
        def sync_index(self, full: bool = False, progress: bool = False) -> "Manifest": ...

    def find_entries(self, text: str = "", category: str = "", language: str = "", tag: str = "",
                     limit: int = 50, offset: int = 0) -> EntryPage:
        """Live entries, by id, whose id/question/alternates/answer hold every word of `text`
        (any case) and whose category, language and tags match the filters given."""
        with database_errors(self.database):
            entries = self.knowledge_base.list_entries()
        found = [e for e in entries if _matches(e, text.strip(), category.strip(), language.strip(), tag.strip())]
        limit = max(0, min(limit, MAX_PAGE))
        return EntryPage(len(found), found[max(0, offset):max(0, offset) + limit])

    def entry(self, entry_id: str) -> Entry:
        """The live entry `entry_id`, or `UnknownItem`."""
        with database_errors(self.database):
            found = self.knowledge_base.get(entry_id)
        if found is None:
            raise UnknownItem(f"no knowledge-base entry has id {entry_id!r}")
        return found

    def create_entry(self, entry: Entry, author: str, reason: str = "") -> Entry:
        """Store a new entry (`Conflict` if its id is taken, `InvalidInput` naming the field that
        is wrong), then update the index; returns it as stored."""
        valid = _valid(entry)
        check_reason(reason)
        with database_errors(self.database):
            if self.knowledge_base.get(valid.id) is not None:
                raise Conflict(f"an entry with id {valid.id!r} exists already: edit it instead")
            self.knowledge_base.upsert([valid], summary=f"created {valid.id} by {author}", author=author,
                                       reason=reason)
        self.sync_index()
        return self.entry(valid.id)

    def update_entry(self, entry_id: str, entry: Entry, author: str, reason: str = "") -> Entry:
        """Replace entry `entry_id`'s fields with `entry`'s (its id must be `entry_id`), then
        update the index; `UnknownItem` for an id that is not a live entry."""
        self.entry(entry_id)
        if entry.id != entry_id:
            raise InvalidInput(f"the entry's id {entry.id!r} is not the id it is saved under ({entry_id!r})")
        valid = _valid(entry)
        check_reason(reason)
        with database_errors(self.database):
            self.knowledge_base.upsert([valid], summary=f"edited {entry_id} by {author}", author=author,
                                       reason=reason)
        self.sync_index()
        return self.entry(entry_id)

    def delete_entry(self, entry_id: str, author: str = "", reason: str = "") -> None:
        """Delete entry `entry_id` (`UnknownItem` if it is not live), then update the index."""
        self.entry(entry_id)
        check_reason(reason)
        with database_errors(self.database):
            self.knowledge_base.delete([entry_id], author=author, reason=reason)
        self.sync_index()

    def hit_test(self, text: str, top_k: int | None = None, language: str | None = None) -> HitTestResult:
        """What the engine would decide for `text` as a new conversation's first message
        (`ChatEngine.decide`, with the settings in force), logging nothing; `language` replaces
        the detected one (how a customer of that language would be answered)."""
        decision = self.engine.decide(text, top_k=top_k, language=language or None)
        band = self.engine.band
        action = decision.action or "refused"
        return HitTestResult(text, decision.language, decision.query, [(h.entry, h.score, h.phrasing) for h in decision.hits],
                             action, [(o.entry_id, o.question) for o in decision.options], band,
                             decision.checked.problem)
