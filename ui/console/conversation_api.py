"""The staff API over the conversation log (issue 15): search, one conversation with its traces,
exports, the inbox, taking a conversation, and privacy deletions. Each route is one `chatbot`
service call (`chatbot.conversation_log_services`) behind `require_role`.

    $ curl -s -b jar 'localhost:7860/api/admin/conversations?action=handoff&date_from=2026-12-01'
    $ curl -s -b jar 'localhost:7860/api/admin/conversations/export?format=csv&feedback=down' -o turns.csv
    $ curl -s -b jar localhost:7860/api/admin/conversations/$CID/take -X POST -H "X-CSRF-Token: $CSRF"
    $ curl -s -b jar localhost:7860/api/admin/conversations/$CID/delete-visitor-data -X POST \\
           -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json' -d '{"reason": "Ticket 4411"}'

Roles: viewers read everything (lists, transcripts, exports, the inbox); editors take, answer
and release conversations; deleting a visitor's data and reading the deletion records is for
admins: it cannot be undone and it removes what audits and training would use.
"""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import chain, islice
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from chatbot.conversations.export import FORMATS
from ui.api.routes import MAX_BODY_BYTES
from ui.console.auth import staff_gate
from ui.console.conversation_schemas import (ConversationDetailResponse, ConversationPageResponse, DeletionRequest,
                                             DeletionResponse, VisitorDeletionRequest, InboxItemResponse)
from ui.console.schemas import ConversationStateResponse

if TYPE_CHECKING:
    from chatbot.conversations.inbox import InboxItem
    from chatbot.conversations.privacy import PrivacyDeletion
    from chatbot.conversations.records import StoredMessage
    from chatbot.conversations.search import ConversationDetail, ConversationFilter, ConversationListing
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession


def listing_json(c: "ConversationListing") -> dict:
    return {"id": c.id, "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
            "channel": c.channel, "language": c.language, "state": c.state, "held_by": c.held_by, "turns": c.turns,
            "first_question": c.first_question, "actions": list(c.actions), "thumbs_up": c.thumbs_up,
            "thumbs_down": c.thumbs_down}


def _message_json(m: "StoredMessage", detail: "ConversationDetail") -> dict:
    trace = m.trace if m.role == "assistant" else None  # the trace goes under the bot's answer
    feedback = detail.feedback.get(trace.id) if trace else None
    return {"id": m.id, "author": m.author, "role": m.role, "text": m.content, "time": m.created_at.isoformat(),
            "trace": None if trace is None else {
                "turn_id": trace.id, "query": trace.query, "language": trace.language, "decision": trace.decision,
                "entries": [{"id": i, "score": round(float(s), 4)} for i, s in zip(trace.entry_ids, trace.scores)],
                "generator": trace.generator, "kb_version": trace.kb_version, "latency_ms": round(trace.latency_ms, 1),
                "grounded": trace.grounded, "grounding_reasons": trace.grounding_reasons,
                "feedback": None if feedback is None else {"rating": feedback.rating, "comment": feedback.comment,
                                                           "given_at": feedback.given_at.isoformat()}}}


def detail_json(detail: "ConversationDetail") -> dict:
    return {"conversation": listing_json(detail.conversation), "contact_email": detail.contact_email,
            "site_key": detail.site_key, "messages": [_message_json(m, detail) for m in detail.messages]}


def inbox_json(item: "InboxItem", now: datetime) -> dict:
    return {"id": item.id, "state": item.state, "held_by": item.held_by, "since": item.since.isoformat(),
            "waited_s": round((now - item.since).total_seconds(), 1), "channel": item.channel,
            "language": item.language, "question": item.question,
            "found": [{"id": i, "score": round(s, 4)} for i, s in item.found], "found_for": item.found_for,
            "kb_version": item.kb_version, "contact_email": item.contact_email}


def deletion_json(done: "PrivacyDeletion") -> dict:
    return {"id": done.id, "deleted_at": done.deleted_at.isoformat(), "deleted_by": done.deleted_by,
            "reason": done.reason, "selected_by": done.selected_by, "conversations": done.conversations,
            "messages": done.messages, "turns": done.turns, "content_sha256": done.content_sha256}


def filter_dependency(services: "Services"):
    """The filter query parameters, checked by the service (`InvalidInput`: a 422 saying why)."""

    def conversation_filter(
            date_from: str = Query("", max_length=10, description="Started on or after (YYYY-MM-DD, UTC)."),
            date_to: str = Query("", max_length=10, description="Started on or before (YYYY-MM-DD, UTC)."),
            language: str = Query("", max_length=16), channel: str = Query("", max_length=32),
            action: str = Query("", max_length=16, description="answer | clarify | abstain | handoff | smalltalk "
                                                               "| rejected: of any turn"),
            feedback: str = Query("", max_length=8, description="up | down | any: on any turn"),
            text: str = Query("", max_length=200, description="Contained in any message (any case)."),
            state: str = Query("", max_length=16, description="bot | waiting | human")) -> "ConversationFilter":
        return services.conversation_filter(date_from, date_to, language, channel, action, feedback, text, state)

    return conversation_filter


def conversation_api_router(services: "Services") -> APIRouter:
    """The /api/admin routes of the conversation log, bound to `services`."""
    router = APIRouter(prefix="/api/admin", tags=["staff"], max_body_size=MAX_BODY_BYTES)
    require_role = staff_gate(services)
    viewer, editor, admin = (Depends(require_role(role)) for role in ("viewer", "editor", "admin"))
    filters = Depends(filter_dependency(services))

    @router.get("/conversations", response_model=ConversationPageResponse)
    def conversations(session: "StaffSession" = viewer, criteria: "ConversationFilter" = filters,
                      limit: int = Query(50, ge=0, le=500), offset: int = Query(0, ge=0)) -> dict:
        """Search and filter the logged conversations, newest first."""
        found = services.search_conversations(criteria, limit, offset)
        return {"total": found.total, "offset": found.offset,
                "conversations": [listing_json(c) for c in found.conversations]}

    @router.get("/conversations/export", response_class=StreamingResponse,
                responses={200: {"content": {media: {} for media in FORMATS.values()}}})
    def export(session: "StaffSession" = viewer, criteria: "ConversationFilter" = filters,
               format: str = Query("csv", max_length=8, description="csv | jsonl")) -> StreamingResponse:
        """Export the filtered conversations' turns, one row per turn, as CSV or JSON Lines (streamed)."""
        lines = services.export_conversations(criteria, format)
        first = list(islice(lines, 2))  # a database that is down is a 503 now, not a cut-off file
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        return StreamingResponse(chain(first, lines), media_type=FORMATS[format], headers={
            "Content-Disposition": f'attachment; filename="conversations-{stamp}.{format}"',
            "Cache-Control": "no-store"})

    @router.get("/inbox", response_model=list[InboxItemResponse])
    def inbox(session: "StaffSession" = viewer) -> list[dict]:
        """Conversations waiting for a human (the longest waiting first), then held ones, with the
        customer's question and what the bot found."""
        now = datetime.now(timezone.utc)
        return [inbox_json(item, now) for item in services.inbox()]

    @router.get("/conversations/{conversation_id}", response_model=ConversationDetailResponse)
    def conversation(conversation_id: str, session: "StaffSession" = viewer) -> dict:
        """One conversation: every message with its author and time, each answer's trace and feedback."""
        return detail_json(services.conversation_detail(conversation_id))

    @router.post("/conversations/{conversation_id}/take", response_model=ConversationStateResponse)
    def take(conversation_id: str, session: "StaffSession" = editor) -> dict:
        """Hold the conversation as the signed-in staff member: the bot stays quiet in it."""
        state = services.take_conversation(conversation_id, session.user.name)
        return {"conversation_id": state.conversation_id, "state": state.state, "held_by": state.held_by}

    @router.post("/conversations/{conversation_id}/delete-visitor-data", response_model=DeletionResponse)
    def delete_visitor_data(conversation_id: str, body: DeletionRequest, session: "StaffSession" = admin) -> dict:
        """Delete this conversation and the same visitor's others from every table; recorded."""
        return deletion_json(services.delete_visitor_data(session.user.name, body.reason,
                                                          conversation_id=conversation_id))

    @router.get("/privacy-deletions", response_model=list[DeletionResponse])
    def privacy_deletions(session: "StaffSession" = admin) -> list[dict]:
        """The privacy deletions done: who, when, why, how much (never what), newest first."""
        return [deletion_json(d) for d in services.privacy_deletions()]

    @router.post("/privacy-deletions", response_model=DeletionResponse)
    def delete_by_visitor(body: VisitorDeletionRequest, session: "StaffSession" = admin) -> dict:
        """Delete a visitor's conversations (by their token or the contact email they left) from every
        table; recorded."""
        return deletion_json(services.delete_visitor_data(session.user.name, body.reason, email=body.email,
                                                          visitor_token=body.visitor_token))

    return router
