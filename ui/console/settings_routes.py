"""The settings staff change while the bot runs (`chatbot.live_settings`): the page
`/admin/settings` and its API twins `GET/PUT /api/admin/settings`, each one `Services` call.

    GET  /admin/settings          every live setting, its default and who changed it when (viewer and up:
                                  editors and viewers read it, the form is the admins')
    POST /admin/settings          admin, csrf_token: the form's values (empty: back to the default)
    GET  /api/admin/settings      the same as JSON, with the answer / clarify band in force
    PUT  /api/admin/settings      admin: {"top_k": 3, "greeting_en": null, ...}; 422 names a wrong value

Changes take effect on the next question or page load, in every server process within
`chatbot.live_settings.CHECK_EVERY_S` seconds; a new answer target recalibrates the band first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from starlette.concurrency import run_in_threadpool

from chatbot.errors import InvalidInput
from chatbot.live_settings import BY_KEY, CHECK_EVERY_S, GREETING_CHARS, SUGGESTIONS, TARGET_RANGE, TOP_K_RANGE
from chatbot.staff.roles import role_allows
from knowledge_base.index.snapshot import IndexNotBuilt
from ui.api.routes import MAX_BODY_BYTES
from ui.chat.words import words
from ui.console.auth import CSRF_FIELD, staff_gate
from ui.console.html import HEADERS, esc, page, staff_header
from ui.console.schemas import SettingsResponse, SettingsUpdate

if TYPE_CHECKING:
    from chatbot.live_settings import SettingState
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

PATH = "/admin/settings"
STYLE = """<style>
textarea,input[type=number]{width:100%;padding:9px 11px;border:1px solid #d1d5db;border-radius:6px;font:inherit}
input[type=number]{max-width:160px}textarea{resize:vertical}
fieldset{border:0;padding:0;margin:0}.setting{padding:14px 0;border-bottom:1px solid #f3f4f6}
.setting label{margin-top:0}.setting p{margin:4px 0}.saved{background:#f0fdf4;border:1px solid #bbf7d0;
color:#166534;padding:10px 12px;border-radius:6px;margin-bottom:8px}.changed{color:#1e40af}
</style>"""


def band_json(services: "Services") -> dict | None:
    """The answer / clarify band in force, or None before an index is built."""
    try:
        band = services.engine.band
    except IndexNotBuilt:
        return None
    return {"answer": band.answer, "clarify": band.clarify, "margin": band.margin}


def state_json(state: "SettingState") -> dict:
    stored = state.stored
    return {"key": state.setting.key, "label": state.setting.label, "help": state.setting.help,
            "value": state.value, "default": state.default, "overridden": stored is not None,
            "updated_by": stored and stored.updated_by, "updated_at": stored and stored.updated_at.isoformat()}


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " · ".join(value) if value else "(the most asked)"
    return str(value) if value != "" else "(the built-in one)"


def _field(state: "SettingState", value: Any, editable: bool) -> str:
    """One setting's label, input, help and provenance."""
    setting, key = state.setting, state.setting.key
    off = "" if editable else " disabled"
    if setting.kind in ("rate", "count"):
        low, high = TARGET_RANGE if setting.kind == "rate" else TOP_K_RANGE
        step = "0.01" if setting.kind == "rate" else "1"
        control = (f'<input type="number" id="{key}" name="{key}" value="{esc(value)}" min="{low}" max="{high}" '
                   f'step="{step}"{off}>')
    else:
        text = "\n".join(value) if isinstance(value, list) else str(value)
        rows, limit = (SUGGESTIONS, "") if setting.kind == "questions" else (3, f' maxlength="{GREETING_CHARS}"')
        # What an empty field means, shown in it: the page's own greeting, or the most asked.
        hint = "The most asked questions" if setting.kind == "questions" else words(key.rsplit("_", 1)[1]).greeting
        control = (f'<textarea id="{key}" name="{key}" rows="{rows}"{limit} placeholder="{esc(hint)}"{off}>'
                   f"{esc(text)}</textarea>")
    stored = state.stored
    provenance = (f'<span class="changed">Changed by <strong>{esc(stored.updated_by)}</strong> on '
                  f'{esc(stored.updated_at.strftime("%Y-%m-%d %H:%M"))} UTC</span> · default: {esc(_shown(state.default))}'
                  if stored else f"The default is in force: {esc(_shown(state.default))}")
    return (f'<div class="setting"><label for="{key}">{esc(setting.label)}</label>{control}'
            f'<p class="muted">{esc(setting.help)}</p><p class="muted">{provenance}</p></div>')


def _page(services: "Services", session: "StaffSession", posted: dict[str, str] | None = None, error: str = "",
          saved: list[str] | None = None, recalibrated: bool = False, status: int = 200) -> Response:
    editable = role_allows(session.user.role, "admin")
    states = services.bot_settings()
    notices = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
    if saved is not None:
        names = ", ".join(BY_KEY[k].label for k in saved if k in BY_KEY) or "nothing (the values were the same)"
        notices += (f'<div class="saved" role="status">Saved: {esc(names)}.'
                    f'{" The answer band was recalibrated." if recalibrated else ""}</div>')
    fields = "".join(_field(s, (posted or {}).get(s.setting.key, s.value), editable) for s in states)
    if editable:
        form = (f'<form method="post" action="{PATH}"><input type="hidden" name="{CSRF_FIELD}" '
                f'value="{esc(session.csrf_token)}"><fieldset>{fields}</fieldset>'
                '<button type="submit">Save changes</button></form>')
    else:
        form = f'<p class="muted">Only admins change these; you see them as they are.</p><fieldset>{fields}</fieldset>'
    band = band_json(services)
    band_html = ("<p class=\"muted\">No index is built yet: the band is calibrated when one is.</p>" if band is None else
                 f'<p>Answer when the top score is at least <strong>{band["answer"]:.3f}</strong> and leads the next by '
                 f'{band["margin"]:.3f}; ask "Did you mean …?" from <strong>{band["clarify"]:.3f}</strong>; abstain below. '
                 '<a href="/admin/hit-test">Try a question</a>.</p>')
    body = (STYLE + f'<div class="card"><h2>Settings</h2>{notices}<p class="muted">Changes take effect on the next '
            f'question or page load, in every server process within {CHECK_EVERY_S:g} seconds; no restart. Empty a '
            f'field to go back to its default (the server\'s CHATBOT_* setting).</p>{form}</div>'
            f'<div class="card"><h2>Answer band in force</h2>{band_html}</div>')
    header = staff_header(session, here=PATH)
    return page("Settings · staff console", body, status=status, header=header)


def settings_routes(services: "Services") -> tuple[APIRouter, APIRouter]:
    """(the API routes, the page routes), bound to `services`."""
    api = APIRouter(prefix="/api/admin", tags=["staff"], max_body_size=MAX_BODY_BYTES)
    pages = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)
    viewer, admin = Depends(require_role("viewer")), Depends(require_role("admin"))

    @api.get("/settings", response_model=SettingsResponse)
    def read_settings(session: "StaffSession" = viewer) -> dict:
        """The settings staff change live: value in force, default, who changed it when; and the band."""
        return {"settings": [state_json(s) for s in services.bot_settings()], "thresholds": band_json(services)}

    @api.put("/settings", response_model=SettingsResponse)
    def change_settings(body: SettingsUpdate, session: "StaffSession" = admin) -> dict:
        """Change settings live (null: back to the default); a new answer target recalibrates the band."""
        change = services.change_settings(body.model_dump(exclude_unset=True), by=session.user.name)
        return {"settings": [state_json(s) for s in change.settings], "thresholds": band_json(services),
                "changed": change.changed, "recalibrated": change.recalibrated}

    @pages.get(PATH)
    def settings_page(session: "StaffSession" = viewer, saved: str | None = Query(None, max_length=1000),
                      recalibrated: bool = False) -> Response:
        return _page(services, session, saved=saved.split(",") if saved is not None else None,
                     recalibrated=recalibrated)

    @pages.post(PATH)
    async def save_settings(request: Request, session: "StaffSession" = admin) -> Response:
        # The form is read as sent: FastAPI's Form() would take an emptied field for a missing one.
        form = await request.form()
        posted = {key: value for key in BY_KEY if isinstance(value := form.get(key), str)}  # left out: unchanged
        values = {key: value if value.strip() else None for key, value in posted.items()}  # emptied: the default
        try:
            change = await run_in_threadpool(services.change_settings, values, session.user.name)
        except InvalidInput as error:
            return await run_in_threadpool(_page, services, session, posted, str(error), None, False, 422)
        target = f"{PATH}?saved={','.join(change.changed)}{'&recalibrated=true' if change.recalibrated else ''}"
        return RedirectResponse(target, status_code=303, headers=HEADERS)

    return api, pages
