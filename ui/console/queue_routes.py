"""The unanswered queue's staff API (issue 15, item 3): each route one service call
(`chatbot.staff.queue_services`), the same the CLI's `chatbot logs unanswered|promote` make.

    GET  /api/admin/unanswered?since=2026-12-01         viewer: the groups, the most asked first
    POST /api/admin/unanswered/{group}/promote          editor: into an entry (existing or new)
    POST /api/admin/turns/{turn_id}/label               editor: the right entry, approved / corrected

    $ curl -s -b jar localhost:7860/api/admin/unanswered/417-3fa2c1/promote -H "X-CSRF-Token: $CSRF" \\
           -H 'content-type: application/json' -d '{"new_id": "pay-yen", "answer": "Yes, we accept yen."}'
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Path, Query

from chatbot.errors import InvalidInput
from chatbot.staff.queue_services import TurnLabelRequest
from ui.api.routes import MAX_BODY_BYTES
from ui.console.api_routes import entry_json
from ui.console.auth import staff_gate
from ui.console.queue_schemas import (PromoteRequest, PromotionResponse, TurnLabelBody, TurnLabelResponse,
                                      UnansweredGroupResponse)
from ui.queue_cli import group_json, parse_since

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession


def since_date(value: str | None) -> datetime | None:
    """`parse_since`, with a bad date as `InvalidInput` (422)."""
    try:
        return parse_since(value)
    except ValueError:
        raise InvalidInput(f"since={str(value)[:40]!r} is not a date (YYYY-MM-DD) or an ISO time.") from None


def queue_api_router(services: "Services") -> APIRouter:
    """The routes above, bound to `services`."""
    router = APIRouter(prefix="/api/admin", tags=["staff"], max_body_size=MAX_BODY_BYTES)
    require_role = staff_gate(services)
    viewer, editor = Depends(require_role("viewer")), Depends(require_role("editor"))

    @router.get("/unanswered", response_model=list[UnansweredGroupResponse])
    def unanswered(session: "StaffSession" = viewer,
                   since: str | None = Query(None, max_length=40, description="From this date (YYYY-MM-DD, UTC).")
                   ) -> list[dict]:
        """Groups of similar unanswered questions (abstained, clarified, thumbs-down, handed
        off), the most asked first."""
        return [group_json(g) for g in services.unanswered_groups(since=since_date(since))]

    @router.post("/unanswered/{group}/promote", response_model=PromotionResponse)
    def promote(group: str, body: PromoteRequest, session: "StaffSession" = editor) -> dict:
        """Turn a group into phrasings of an entry, existing (`entry_id`) or new (`new_id`,
        `answer`); its turns are labelled with it and the index follows before this returns."""
        done = services.promote_group(group, author=session.user.name, entry_id=body.entry_id, new_id=body.new_id,
                                      answer=body.answer, questions=body.questions, since=since_date(body.since))
        return {"entry": entry_json(done.entry), "added": done.added, "labelled_turns": done.labelled_turns,
                "created": done.created}

    @router.post("/turns/{turn_id}/label", response_model=TurnLabelResponse)
    def label(body: TurnLabelBody, turn_id: int = Path(ge=1, le=2**31 - 1), session: "StaffSession" = editor) -> dict:
        """Say which entry should have answered a logged turn (null: out of scope), and mark its
        answer approved or write the corrected one; the question becomes a phrasing of the entry."""
        [stored] = services.label_turns([TurnLabelRequest(turn_id, body.entry_id, body.review, body.corrected_answer)],
                                        session.user.name)
        return {"turn_id": turn_id, "entry_id": stored.expected_id, "review": stored.review,
                "corrected_answer": stored.corrected_answer, "labelled_by": stored.labelled_by,
                "labelled_at": stored.labelled_at.isoformat()}

    return router
