"""The staff API's bodies for the conversation log (documented in /openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConversationListingResponse(BaseModel):
    id: str
    created_at: str
    updated_at: str
    channel: str = Field(description="web (page and API), widget, cli, ...")
    language: str
    state: str = Field(description="bot | waiting | human")
    held_by: str | None
    turns: int
    first_question: str = Field(description="The customer's first message, as logged (PII redacted).")
    actions: list[str] = Field(description="The decisions of its turns: answer, clarify, abstain, handoff, ...")
    thumbs_up: int
    thumbs_down: int


class ConversationPageResponse(BaseModel):
    total: int = Field(description="How many conversations match the filters.")
    offset: int
    conversations: list[ConversationListingResponse]


class TraceResponse(BaseModel):
    turn_id: int
    query: str = Field(description="The text retrieved for (cleaned, PII redacted, a follow-up rewritten).")
    language: str
    decision: str
    entries: list[dict] = Field(description="[{id, score}] best first: the sources or a clarification's options.")
    generator: str
    kb_version: int
    latency_ms: float
    grounded: bool | None = Field(description="None: nothing generated; false: the generated answer was replaced.")
    grounding_reasons: list[str]
    feedback: dict | None = Field(description="{rating, comment, given_at} of the customer, if any.")


class MessageResponse(BaseModel):
    id: int
    author: str = Field(description="customer | bot | staff:<name>")
    role: str
    text: str
    time: str
    trace: TraceResponse | None = Field(description="On a bot answer: how it was made.")


class ConversationDetailResponse(BaseModel):
    conversation: ConversationListingResponse
    contact_email: str | None
    site_key: str | None
    messages: list[MessageResponse]


class InboxItemResponse(BaseModel):
    id: str
    state: str = Field(description="waiting | human")
    held_by: str | None
    since: str = Field(description="Waiting since, or (held) last active.")
    waited_s: float
    channel: str
    language: str
    question: str
    found: list[dict] = Field(description="[{id, score}]: the entries the bot found for `found_for`.")
    found_for: str
    kb_version: int | None
    contact_email: str | None


class DeletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000, description="Why (the customer's request, its date): kept in the record.")


class VisitorDeletionRequest(DeletionRequest):
    """Exactly one of the two."""

    email: str | None = Field(default=None, max_length=254,
                              description="The contact email the customer left in their conversations.")
    visitor_token: str | None = Field(default=None, max_length=128,
                                      description="The visitor's token (a server-side client's X-Visitor-Token).")


class DeletionResponse(BaseModel):
    id: int
    deleted_at: str
    deleted_by: str
    reason: str
    selected_by: str = Field(description="conversation | visitor | email")
    conversations: int
    messages: int
    turns: int
    content_sha256: str = Field(description="SHA-256 of the deleted rows: proof without the content.")
