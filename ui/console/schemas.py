"""The staff API's request and response bodies (documented in /openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class SessionResponse(BaseModel):
    """Who is signed in, and the CSRF token every state-changing request must send back in the
    `X-CSRF-Token` header."""

    name: str
    role: str = Field(description="viewer | editor | admin")
    csrf_token: str
    expires_at: str = Field(description="When the session ends, ISO 8601 in UTC.")


class EntryFields(BaseModel):
    """An entry's content (DESIGN.md's import fields); `id` comes from the path or `EntryCreate`."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str
    alternates: list[str] = Field(default_factory=list, description="Other phrasings of the question.")
    category: str = ""
    language: str = Field(default="", description="e.g. en, zh; empty: detected from the text")
    tags: list[str] = Field(default_factory=list)
    url: str = ""


class EntryCreate(EntryFields):
    id: str = Field(description="1-128 of letters, digits, '_', '-', '.', ':'.")


class EntryEdit(EntryFields):
    """An entry's new content, and why it changed (shown in the entry's history)."""

    reason: str = Field(default="", max_length=500, description="Why (optional): shown in the history.")


class EntryNew(EntryCreate):
    reason: str = Field(default="", max_length=500, description="Why (optional): shown in the history.")


class EntryResponse(EntryCreate):
    version: int = Field(description="The KB version at which the entry last changed.")
    updated_at: str | None


class EntryPageResponse(BaseModel):
    total: int = Field(description="How many entries match the filters.")
    entries: list[EntryResponse]


class HitTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="A customer's question, in any language.")
    top_k: int | None = Field(default=None, ge=1, le=50, description="Entries to rank; default: the setting.")
    language: str | None = Field(default=None, max_length=16,
                                 description="Answer as for a customer of this language (en, zh); default: detected.")


class HitTestHit(BaseModel):
    id: str
    question: str
    score: float
    phrasing: str = Field(description="The question or alternate that matched best.")
    language: str
    category: str


class HitTestOption(BaseModel):
    id: str
    question: str


class Thresholds(BaseModel):
    answer: float = Field(description="Top score at or above this (with the margin): answer.")
    clarify: float = Field(description="Top score at or above this: clarify; below: abstain.")
    margin: float = Field(description="Least lead of the top entry over the next to answer without asking.")


class HitTestResponse(BaseModel):
    """What the engine would do with the question; no turn is logged."""

    text: str
    language: str
    query: str = Field(description="The text retrieved for (a follow-up's rewrite).")
    action: str = Field(description="answer | clarify | abstain | refused (by the input guard)")
    refused: str = Field(description="The guard's reason when refused (empty, too_long, injection, ...).")
    thresholds: Thresholds
    hits: list[HitTestHit]
    options: list[HitTestOption] = Field(description="A clarification's choices.")


class WaitingConversationResponse(BaseModel):
    id: str
    waiting_since: str
    waited_s: float
    channel: str
    language: str
    last_message: str
    contact_email: str | None


class StaffReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The message to the customer, sent as the signed-in staff member.")


class ConversationStateResponse(BaseModel):
    conversation_id: str
    state: str = Field(description="bot | waiting | human")
    held_by: str | None
    message_id: int | None = Field(default=None, description="The reply's message id, for a reply.")


class StaffUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: str = Field(description="admin | editor | viewer")
    password: str = Field(description="At least 10 characters.")


class StaffUserResponse(BaseModel):
    name: str
    role: str
    created_at: str


class RejectedRow(BaseModel):
    file: str
    line: int = Field(description="The line (or a JSON list's item number, a sheet's row) in the file.")
    reason: str


class ImportFileReport(BaseModel):
    file: str = Field(description="The file's name as uploaded.")
    created: int
    updated: int
    unchanged: int
    refused: str = Field(description="Why the whole file was refused (nothing of it stored); empty if not.")
    rejected: list[RejectedRow]


class ImportProgressNow(BaseModel):
    file: str
    stored: int = Field(description="Entries of the file the database has stored so far.")
    entries: int = Field(description="Entries read from the file.")


class ImportJobResponse(BaseModel):
    """A background import, as it stands."""

    id: str
    state: str = Field(description="queued | importing | indexing | done | failed")
    done: float = Field(description="Steps done: files imported or refused (with the share stored of the "
                                    "file in hand), then the index update.")
    total: int = Field(description="Steps in all: one per file, one for the index update.")
    files: list[str]
    author: str
    current: ImportProgressNow | None
    error: str = Field(description="Why the import failed (state failed).")
    created_at: str
    finished_at: str | None
    reports: list[ImportFileReport] = Field(description="One per file done, in upload order.")
class SettingResponse(BaseModel):
    """A setting staff may change while the bot runs (chatbot.live_settings)."""

    key: str
    label: str
    help: str
    value: float | int | str | list[str] = Field(description="The value in force.")
    default: float | int | str | list[str] = Field(description="The environment's value (CHATBOT_*).")
    overridden: bool = Field(description="Whether a stored change overrides the default.")
    updated_by: str | None = Field(description="Who stored the change in force.")
    updated_at: str | None = Field(description="When, ISO 8601 in UTC.")


class SettingsResponse(BaseModel):
    settings: list[SettingResponse]
    thresholds: Thresholds | None = Field(description="The band in force (null: no index built yet).")
    changed: list[str] = Field(default_factory=list, description="After a change: the settings it changed.")
    recalibrated: bool = Field(default=False, description="After a change: the band was recalibrated.")


class SettingsUpdate(BaseModel):
    """The settings to change; those left out stay, null puts one back to its default. Checked
    together (422 naming the first wrong value; nothing changes then)."""

    model_config = ConfigDict(extra="forbid")

    clarify_target_wrong_rate: float | None = Field(default=None, description="0.01 to 0.5; recalibrates the band.")
    target_wrong_rate: float | None = Field(default=None, description="0.01 to 0.5; recalibrates the band.")
    top_k: int | None = Field(default=None, description="1 to 20.")
    greeting_en: str | None = Field(default=None, description="At most 500 characters; empty: the built-in one.")
    greeting_zh: str | None = None
    suggested_questions_en: list[str] | None = Field(default=None, description="At most 4; empty: the most asked.")
    suggested_questions_zh: list[str] | None = None
