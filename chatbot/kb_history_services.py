"""The knowledge base's history: an entry's versions with what changed (a readable diff), what an
entry said at a given KB version (the version every logged turn records), the KB's versions, and
rollbacks of one entry or of the whole knowledge base. Part of the application object
(`chatbot.services.Services` inherits them): the CLI, the staff API and the console call these.

A rollback is itself a new KB version (with its author and reason), and the index follows it
(`Services.sync_index`) before the call returns: the next customer question gets the old answer.

    >>> services.entry_history("returns").items[0].fields      # the latest change, field by field
    >>> services.entry_at("returns", turn.kb_version).answer    # what a logged turn was answered from
    >>> services.rollback_entry("returns", 3, author="alice", reason="the new policy is not live yet")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.conversations.database import database_errors
from chatbot.errors import UnknownItem
from chatbot.knowledge_services import check_reason
from knowledge_base.history_diff import FieldDiff, diff_entries
from knowledge_base.revisions import KBVersion, Revision, RollbackResult, UnknownVersion, same_content

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from knowledge_base.entries import Entry
    from knowledge_base.index.snapshot import Manifest
    from knowledge_base.repository import KnowledgeBaseRepository

MAX_VERSIONS_PAGE = 500


@dataclass(frozen=True)
class HistoryItem:
    """One version of an entry: the revision, what kind of change it was ("created", "edited",
    "deleted", "restored": revived after a deletion; "recorded": where its history began, with
migration 0008) and the fields it changed, against the
    version before it (a deletion lists none); `same_as` names the latest earlier version (not
    the one just before) that said the same, as after a rollback to it."""

    revision: Revision
    change: str
    fields: list[FieldDiff]
    same_as: int | None = None  # an earlier version whose content this one brought back (a rollback's)


@dataclass(frozen=True)
class EntryHistory:
    """An entry's versions, the newest first; `current` is the live entry (None: deleted now);
    `begins` the KB version from which its history is complete (0: from its creation)."""

    entry_id: str
    current: "Entry | None"
    items: list[HistoryItem]
    begins: int


def history_items(revisions: list[Revision]) -> list[HistoryItem]:
    """Each revision (oldest first) with its change against the one before, the newest first."""
    items: list[HistoryItem] = []
    previous: Revision | None = None
    seen: list[Revision] = []
    for revision in revisions:
        if revision.deleted:
            change, fields = "deleted", []
        elif previous is None:
            # A backfilled revision is where history began: what came before is not known.
            change = "recorded" if revision.backfilled else "created"
            fields = diff_entries(None, revision.entry)
        else:
            # A revived entry is compared with what it said when it was deleted.
            change = "restored" if previous.deleted else "edited"
            fields = diff_entries(previous.entry, revision.entry)
        same_as = None
        if not revision.deleted and previous is not None:
            same_as = next((r.kb_version for r in reversed(seen[:-1])
                            if not r.deleted and same_content(r.entry, revision.entry)), None)
        items.append(HistoryItem(revision, change, fields, same_as))
        previous = revision
        seen.append(revision)
    return items[::-1]


class KBHistoryServices:
    """Mixed into `Services`, whose repository, database and `sync_index` these use."""

    database: "Engine"
    knowledge_base: "KnowledgeBaseRepository"

    if TYPE_CHECKING:
        def sync_index(self, full: bool = False, progress: bool = False) -> "Manifest": ...

    def entry_history(self, entry_id: str) -> EntryHistory:
        """Every version of `entry_id`, the newest first, each with what it changed;
        `UnknownItem` for an id that never existed."""
        with database_errors(self.database):
            revisions = self.knowledge_base.history(entry_id)
            current = self.knowledge_base.get(entry_id)
            begins = self.knowledge_base.history_begins(entry_id)
        if not revisions:
            raise UnknownItem(f"no knowledge-base entry has id {entry_id!r}")
        return EntryHistory(entry_id, current, history_items(revisions), begins)

    def entry_at(self, entry_id: str, kb_version: int) -> "Entry":
        """What `entry_id` said at `kb_version` (its `version`: when that content was written);
        `UnknownItem` saying why when it did not exist then, was deleted, or was not recorded."""
        with database_errors(self.database):
            latest = self.knowledge_base.current_version()
            revisions = self.knowledge_base.history(entry_id)
        if not revisions:
            raise UnknownItem(f"no knowledge-base entry has id {entry_id!r}")
        if not 1 <= kb_version <= latest:
            raise UnknownItem(f"there is no KB version {kb_version}: versions run from 1 to {latest}")
        first = revisions[0]
        if kb_version < first.kb_version:
            if first.backfilled:
                raise UnknownItem(f"what {entry_id!r} said at KB version {kb_version} was not recorded: "
                                  f"its history begins at version {first.kb_version}")
            raise UnknownItem(f"{entry_id!r} did not exist yet at KB version {kb_version}: "
                              f"it was created at version {first.kb_version}")
        then = [r for r in revisions if r.kb_version <= kb_version][-1]
        if then.deleted:
            raise UnknownItem(f"{entry_id!r} was deleted at KB version {then.kb_version}, so it did not "
                              f"exist at version {kb_version}")
        return then.entry

    def kb_versions(self, limit: int = 50, offset: int = 0) -> list[KBVersion]:
        """The knowledge base's versions, the newest first: what changed, who, when and why."""
        with database_errors(self.database):
            return self.knowledge_base.versions(max(0, min(limit, MAX_VERSIONS_PAGE)), max(0, offset))

    def rollback_entry(self, entry_id: str, to_version: int, author: str, reason: str = "") -> RollbackResult:
        """Make `entry_id` say what it said at KB version `to_version` (deleted, if it was not
        live then) as a new version, then update the index; no version when it says that
        already. `UnknownItem` for an unknown entry or version, `InvalidInput` for a long reason."""
        check_reason(reason)
        with database_errors(self.database):
            if not self.knowledge_base.history(entry_id):
                raise UnknownItem(f"no knowledge-base entry has id {entry_id!r}")
            try:
                result = self.knowledge_base.rollback_entry(entry_id, to_version, author, reason)
            except UnknownVersion as error:
                raise UnknownItem(str(error)) from None
        if result.version is not None:
            self.sync_index()
        return result

    def rollback_kb(self, kb_version: int, author: str, reason: str = "") -> RollbackResult:
        """Make the whole knowledge base what it was at `kb_version` as one new version (entries
        created since deleted, deleted ones revived, changed ones restored), then update the
        index. `UnknownItem` for a version that does not exist or was not recorded."""
        check_reason(reason)
        with database_errors(self.database):
            try:
                result = self.knowledge_base.rollback_kb(kb_version, author, reason)
            except UnknownVersion as error:
                raise UnknownItem(str(error)) from None
        if result.version is not None:
            self.sync_index()
        return result
