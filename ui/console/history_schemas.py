"""The bodies of the staff API's history routes (`ui.console.history_api`), documented in
/openapi.json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.revisions import MAX_REASON_CHARS
from ui.console.schemas import EntryCreate, EntryResponse

REASON = Field(default="", max_length=MAX_REASON_CHARS, description="Why (optional): shown in the history.")


class DiffSpan(BaseModel):
    op: str = Field(description="same | delete | insert")
    text: str = Field(description="A run of words (text fields) or one item (list fields).")


class FieldChange(BaseModel):
    field: str = Field(description="question, answer, alternates, category, language, tags or url")
    kind: str = Field(description="text (runs of words) | list (one span per item)")
    spans: list[DiffSpan]


class EntryVersionResponse(BaseModel):
    """One version of an entry and what it changed against the version before it."""

    kb_version: int
    created_at: str
    author: str = Field(description="Who made the change; empty: unknown (before history was recorded).")
    reason: str
    change: str = Field(description="created | edited | deleted | restored | recorded (where history began)")
    same_as: int | None = Field(description="An earlier version whose content this one brought back (a rollback).")
    deleted: bool
    entry: EntryCreate = Field(description="The entry after the change (for a deletion: what it said last).")
    changes: list[FieldChange]


class EntryHistoryResponse(BaseModel):
    entry_id: str
    live: bool = Field(description="Whether the entry exists now (false: deleted).")
    history_begins: int = Field(description="The KB version from which its history is complete (0: always).")
    versions: list[EntryVersionResponse] = Field(description="The newest first.")


class EntryAtResponse(EntryResponse):
    """What the entry said at `as_of`; `version` is the KB version at which it got that content."""

    as_of: int


class EntryRollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=1, description="The KB version whose content the entry gets back.")
    reason: str = REASON


class KBRollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kb_version: int = Field(ge=1, description="The KB version the whole knowledge base goes back to.")
    reason: str = REASON


class RollbackResponse(BaseModel):
    kb_version: int | None = Field(description="The new KB version; null when nothing changed (no version made).")
    changed: bool
    restored: list[str] = Field(description="Entries written back (changed or revived).")
    deleted: list[str] = Field(description="Entries deleted (they did not exist at that version).")


class KBVersionResponse(BaseModel):
    version: int
    created_at: str
    summary: str
    author: str = Field(description="Empty: unknown (before history was recorded).")
    reason: str
    entry_ids: list[str] = Field(description="The entries this version changed.")
