"""The staff API of the knowledge base's history: an entry's versions with their diffs, what an
entry said at a KB version, the KB's versions, and rollbacks. Viewers read, editors roll back;
each route is one `chatbot.kb_history_services` call, the one the CLI makes, and the author of a
rollback is the signed-in staff member.

    $ curl -s -b jar localhost:7860/api/admin/entries/returns/history
    $ curl -s -b jar localhost:7860/api/admin/entries/returns/rollback -H "X-CSRF-Token: $CSRF" \\
           -H 'content-type: application/json' -d '{"to_version": 3, "reason": "not live yet"}'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query

from ui.api.routes import MAX_BODY_BYTES
from ui.console.api_routes import entry_json
from ui.console.auth import staff_gate
from ui.console.history_schemas import (EntryAtResponse, EntryHistoryResponse, EntryRollbackRequest,
                                        KBRollbackRequest, KBVersionResponse, RollbackResponse)
from ui.kb_history_cli import history_json, rollback_json, version_json

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession


def history_api_router(services: "Services") -> APIRouter:
    """The history routes under /api/admin, bound to `services`."""
    router = APIRouter(prefix="/api/admin", tags=["staff"], max_body_size=MAX_BODY_BYTES)
    require_role = staff_gate(services)
    viewer, editor = Depends(require_role("viewer")), Depends(require_role("editor"))

    @router.get("/entries/{entry_id}/history", response_model=EntryHistoryResponse)
    def entry_history(entry_id: str, session: "StaffSession" = viewer) -> dict:
        """An entry's versions, the newest first: when, by whom, why, and what each changed."""
        return history_json(services.entry_history(entry_id))

    @router.get("/entries/{entry_id}/versions/{kb_version}", response_model=EntryAtResponse)
    def entry_at(entry_id: str, kb_version: int, session: "StaffSession" = viewer) -> dict:
        """What an entry said at a KB version (every logged turn records the version it was
        answered at); 404 saying why when it did not exist then."""
        return {**entry_json(services.entry_at(entry_id, kb_version)), "as_of": kb_version}

    @router.post("/entries/{entry_id}/rollback", response_model=RollbackResponse)
    def rollback_entry(entry_id: str, body: EntryRollbackRequest, session: "StaffSession" = editor) -> dict:
        """Give an entry back what it said at an earlier KB version, as a new version; the index
        follows before this returns."""
        return rollback_json(services.rollback_entry(entry_id, body.to_version, session.user.name, body.reason))

    @router.get("/kb/versions", response_model=list[KBVersionResponse])
    def kb_versions(session: "StaffSession" = viewer, limit: int = Query(50, ge=1, le=500),
                    offset: int = Query(0, ge=0)) -> list[dict]:
        """The knowledge base's versions, the newest first."""
        return [version_json(v) for v in services.kb_versions(limit, offset)]

    @router.post("/kb/rollback", response_model=RollbackResponse)
    def rollback_kb(body: KBRollbackRequest, session: "StaffSession" = editor) -> dict:
        """Roll the whole knowledge base back to an earlier KB version, as a new version; the
        index follows before this returns."""
        return rollback_json(services.rollback_kb(body.kb_version, session.user.name, body.reason))

    return router
