"""The staff API under /api/admin: sign in and out, the knowledge base's entries, the hit test,
the conversations waiting for a human, staff accounts. Each route is one `chatbot` service call
(the same the CLI makes) behind `require_role`; errors are mapped in `ui.api.errors`.

    $ curl -s -c jar localhost:7860/api/admin/login -H 'content-type: application/json' \\
           -d '{"name": "alice", "password": "…"}'                     # {"csrf_token": "…", ...}
    $ curl -s -b jar 'localhost:7860/api/admin/entries?text=refund&language=en'
    $ curl -s -b jar localhost:7860/api/admin/entries/returns -X PUT -H "X-CSRF-Token: $CSRF" \\
           -H 'content-type: application/json' -d '{"question": "…", "answer": "…"}'

Roles: viewer reads (entries, hit test, the waiting queue); editor also changes entries and
answers or releases conversations; admin also manages accounts. Every request that changes
something carries the session's CSRF token in `X-CSRF-Token`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request, Response

from chatbot.errors import Forbidden
from knowledge_base.entries import Entry
from ui.api.routes import MAX_BODY_BYTES
from ui.console.auth import SESSION_COOKIE, clear_session_cookie, set_session_cookie, staff_gate
from ui.console.schemas import (ConversationStateResponse, EntryEdit, EntryNew, EntryPageResponse,
                                EntryResponse, HitTestRequest, HitTestResponse, LoginRequest, SessionResponse,
                                StaffReplyRequest, StaffUserCreate, StaffUserResponse, WaitingConversationResponse)
from ui.conversations_cli import waiting_json

if TYPE_CHECKING:
    from chatbot.knowledge_services import HitTestResult
    from chatbot.services import Services
    from chatbot.staff.accounts import StaffUser
    from chatbot.staff.sessions import StaffSession

JSON_ONLY = "Send the sign-in as JSON (Content-Type: application/json)."


def session_json(session: "StaffSession") -> dict:
    return {"name": session.user.name, "role": session.user.role, "csrf_token": session.csrf_token,
            "expires_at": session.expires_at.isoformat()}


def entry_json(entry: Entry) -> dict:
    return {**entry.to_dict(), "version": entry.version,
            "updated_at": entry.updated_at.isoformat() if entry.updated_at else None}


def hit_test_json(result: "HitTestResult") -> dict:
    band = result.band
    return {"text": result.text, "language": result.language, "query": result.query, "action": result.action,
            "refused": result.refused,
            "thresholds": {"answer": band.answer, "clarify": band.clarify, "margin": band.margin},
            "hits": [{"id": e.id, "question": e.question, "score": round(float(score), 4), "phrasing": phrasing,
                      "language": e.language, "category": e.category} for e, score, phrasing in result.hits],
            "options": [{"id": i, "question": q} for i, q in result.options]}


def user_json(user: "StaffUser") -> dict:
    return {"name": user.name, "role": user.role, "created_at": user.created_at.isoformat()}


def staff_api_router(services: "Services") -> APIRouter:
    """The /api/admin routes, bound to `services`."""
    router = APIRouter(prefix="/api/admin", tags=["staff"], max_body_size=MAX_BODY_BYTES)
    require_role = staff_gate(services)
    viewer, editor, admin = (Depends(require_role(role)) for role in ("viewer", "editor", "admin"))

    # -- session ------------------------------------------------------------------------------
    @router.post("/login", response_model=SessionResponse)
    def login(body: LoginRequest, request: Request, response: Response) -> dict:
        """Sign in: sets the session cookie and returns the CSRF token. Failed sign-ins are limited
        per account and per address (429 with Retry-After)."""
        # JSON only: a cross-site form cannot send it without the browser asking this origin first.
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise Forbidden(JSON_ONLY)
        session = services.sign_in(body.name, body.password, request.client.host if request.client else "")
        set_session_cookie(response, request, session, services.settings.staff_session_ttl_s)
        return session_json(session)

    @router.post("/logout", status_code=204)
    def logout(request: Request, session: "StaffSession" = viewer) -> Response:
        """End the session."""
        services.sign_out(request.cookies.get(SESSION_COOKIE))
        response = Response(status_code=204)
        clear_session_cookie(response, request)
        return response

    @router.get("/session", response_model=SessionResponse)
    def current_session(session: "StaffSession" = viewer) -> dict:
        """Who is signed in, and the session's CSRF token."""
        return session_json(session)

    # -- knowledge base -----------------------------------------------------------------------
    @router.get("/entries", response_model=EntryPageResponse)
    def entries(session: "StaffSession" = viewer,
                text: str = Query("", max_length=200, description="Words that must all appear (any case)."),
                category: str = Query("", max_length=200), language: str = Query("", max_length=16),
                tag: str = Query("", max_length=100), limit: int = Query(50, ge=0, le=500),
                offset: int = Query(0, ge=0)) -> dict:
        """Search and filter the entries, by id."""
        found = services.find_entries(text, category, language, tag, limit, offset)
        return {"total": found.total, "entries": [entry_json(e) for e in found.entries]}

    @router.get("/entries/{entry_id}", response_model=EntryResponse)
    def get_entry(entry_id: str, session: "StaffSession" = viewer) -> dict:
        """One entry."""
        return entry_json(services.entry(entry_id))

    @router.post("/entries", response_model=EntryResponse, status_code=201)
    def create_entry(body: EntryNew, session: "StaffSession" = editor) -> dict:
        """Create an entry (409 if the id is taken); the index follows before this returns."""
        return entry_json(services.create_entry(Entry(**body.model_dump(exclude={"reason"})), author=session.user.name,
                                                reason=body.reason))

    @router.put("/entries/{entry_id}", response_model=EntryResponse)
    def update_entry(entry_id: str, body: EntryEdit, session: "StaffSession" = editor) -> dict:
        """Replace an entry's content; the index follows before this returns."""
        return entry_json(services.update_entry(entry_id, Entry(id=entry_id, **body.model_dump(exclude={"reason"})),
                                                author=session.user.name, reason=body.reason))

    @router.delete("/entries/{entry_id}", status_code=204)
    def delete_entry(entry_id: str, session: "StaffSession" = editor,
                     reason: str = Query("", max_length=500, description="Why (optional): shown in the history.")) -> Response:
        """Delete an entry; the index follows before this returns."""
        services.delete_entry(entry_id, author=session.user.name, reason=reason)
        return Response(status_code=204)

    @router.post("/hit-test", response_model=HitTestResponse)
    def hit_test(body: HitTestRequest, session: "StaffSession" = viewer) -> dict:
        """What the bot would do with a question: language, ranked entries with scores, the
        decision and its thresholds. Logs nothing."""
        return hit_test_json(services.hit_test(body.text, body.top_k, body.language))

    # -- conversations waiting for a human -----------------------------------------------------
    @router.get("/conversations/waiting", response_model=list[WaitingConversationResponse])
    def waiting(session: "StaffSession" = viewer) -> list[dict]:
        """Conversations waiting for a human, the longest waiting first."""
        return waiting_json(services.waiting_conversations(), datetime.now(timezone.utc))

    @router.post("/conversations/{conversation_id}/reply", response_model=ConversationStateResponse)
    def reply(conversation_id: str, body: StaffReplyRequest, session: "StaffSession" = editor) -> dict:
        """Send a message to the customer as the signed-in staff member (who then holds it)."""
        message_id = services.staff_reply(conversation_id, session.user.name, body.text)
        return {"conversation_id": conversation_id, "state": "human", "held_by": session.user.name,
                "message_id": message_id}

    @router.post("/conversations/{conversation_id}/release", response_model=ConversationStateResponse)
    def release(conversation_id: str, session: "StaffSession" = editor) -> dict:
        """Give the conversation back to the bot."""
        state = services.release_conversation(conversation_id)
        return {"conversation_id": state.conversation_id, "state": state.state, "held_by": state.held_by}

    # -- staff accounts ------------------------------------------------------------------------
    @router.get("/users", response_model=list[StaffUserResponse])
    def users(session: "StaffSession" = admin) -> list[dict]:
        """Every staff account."""
        return [user_json(u) for u in services.staff_users()]

    @router.post("/users", response_model=StaffUserResponse, status_code=201)
    def add_user(body: StaffUserCreate, session: "StaffSession" = admin) -> dict:
        """Create a staff account (409 if the name is taken)."""
        return user_json(services.add_staff_user(body.name, body.role, body.password))

    @router.delete("/users/{name}", status_code=204)
    def remove_user(name: str, session: "StaffSession" = admin) -> Response:
        """Remove a staff account and end its sessions (409 for the last admin)."""
        services.remove_staff_user(name)
        return Response(status_code=204)

    return router
