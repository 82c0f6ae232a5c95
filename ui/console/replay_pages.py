"""The console's replay pages (issue 16): editors and admins start a replay of a slice of the log
against a candidate, watch its progress and open its report. Plain HTML, CSRF forms, no script:
a running job's page refreshes itself (`<meta http-equiv="refresh">`) and shows a `<progress>`.

    GET  /admin/replays                     the form and the latest replays
    POST /admin/replays                     start one (csrf_token) -> 303 to its page
    GET  /admin/replays/{job_id}            its progress, then its headline figures
    GET  /admin/replays/{job_id}/report     the self-contained HTML report, with its own CSP

Each action is one service call (`chatbot.replay_services`), the same the CLI makes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.evaluation.replay_candidate import Candidate, parse_overrides
from chatbot.evaluation.replay_report import REPORT_CSP
from chatbot.evaluation.replay_source import DECISIONS, FEEDBACK, ReplaySlice
from chatbot.replay_services import ReplayJob, ReplayRequest
from ui.console.auth import CSRF_FIELD, staff_gate
from ui.console.html import HEADERS, esc, page, staff_header

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

REFRESH_S = 2
STYLE = ("<style>.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:0 16px}"
         "select,input[type=date],input[type=number],textarea{width:100%;padding:8px 10px;border:1px solid #d1d5db;"
         "border-radius:6px;font:inherit;background:#fff}fieldset{border:1px solid #e5e7eb;border-radius:8px;"
         "margin:14px 0 0;padding:4px 14px 14px}legend{font-weight:600;padding:0 6px}"
         "label.check{font-weight:400;display:flex;gap:8px;align-items:center;margin-top:36px}"
         "progress{width:100%;height:18px}.state{font-weight:600}.failed{color:#991b1b}.done{color:#166534}"
         "a.button{display:inline-block;margin-top:12px;padding:9px 18px;border-radius:6px;background:#2563eb;"
         "color:#fff;text-decoration:none}</style>")


def _header(session: "StaffSession") -> str:
    return staff_header(session, "/admin/replays")


def _select(name: str, choices: tuple[str, ...], label: str) -> str:
    options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in choices)
    return f'<div><label for="{name}">{label}</label><select id="{name}" name="{name}"><option value="">all</option>{options}</select></div>'


def _field(name: str, label: str, kind: str = "text", hint: str = "") -> str:
    extra = ' min="1"' if kind == "number" else ""
    placeholder = f' placeholder="{esc(hint)}"' if hint else ""
    return (f'<div><label for="{name}">{label}</label><input type="{kind}" id="{name}" name="{name}"{extra}'
            f'{placeholder}></div>')


def _job_rows(jobs: list[ReplayJob]) -> str:
    if not jobs:
        return '<p class="muted">No replay yet.</p>'
    rows = "".join(
        f'<tr><td><a href="/admin/replays/{esc(j.id)}">{esc(j.started_at.replace("T", " ")[:16])}</a></td>'
        f'<td>{esc(j.candidate)}</td><td>{esc(j.started_by)}</td><td class="state {esc(j.state)}">{esc(j.state)}</td>'
        f'<td>{"" if j.changed is None else f"{j.changed} of {j.n} changed"}</td></tr>' for j in jobs)
    return (f'<div class="scroll"><table><tr><th>Started (UTC)</th><th>Candidate</th><th>By</th><th>State</th>'
            f'<th>Turns</th></tr>{rows}</table></div>')


def _form_page(services: "Services", session: "StaffSession", message: str = "", status: int = 200) -> Response:
    error = f'<div class="error" role="alert">{esc(message)}</div>' if message else ""
    body = (f'{STYLE}<div class="card"><h2>Replay conversations</h2>{error}'
            '<p class="muted">Re-run logged customer turns under a candidate knowledge base, generator or settings, '
            'beside what the bot answered then. Nothing is written to the conversation log.</p>'
            f'<form method="post" action="/admin/replays"><input type="hidden" name="{CSRF_FIELD}" '
            f'value="{esc(session.csrf_token)}"><fieldset><legend>Which turns</legend><div class="grid">'
            f'{_field("since", "From", "date")}{_field("until", "Before", "date")}'
            f'{_field("language", "Language", hint="en")}{_field("channel", "Channel", hint="web")}'
            f'{_select("action", DECISIONS, "Logged action")}{_select("feedback", FEEDBACK, "Feedback")}'
            f'{_field("limit", "Latest N turns", "number")}'
            '<div><label class="check"><input type="checkbox" name="labelled" value="1"> labelled only</label></div>'
            '</div></fieldset><fieldset><legend>Candidate</legend><div class="grid">'
            f'{_field("kb_version", "KB version", "number", "current")}'
            f'{_field("generator", "Generator", hint="in service")}'
            f'{_field("model_version", "Model version", hint="none")}</div>'
            '<label for="settings">Settings, one key=value a line</label>'
            '<textarea id="settings" name="settings" rows="2" placeholder="answer_threshold=0.6"></textarea></fieldset>'
            '<fieldset><legend>Compare and gate</legend><div class="grid">'
            '<div><label for="baseline">Baseline</label><select id="baseline" name="baseline">'
            '<option value="">the log</option><option value="current">the bot in service</option></select></div>'
            f'{_field("fail_if", "Fail if", hint="resolved_rate<0.9")}'
            f'{_field("max_regression", "Max regression", hint="0.01")}</div></fieldset>'
            '<button type="submit">Start the replay</button></form></div>'
            f'<div class="card"><h2>Latest replays</h2>{_job_rows(services.replay_jobs())}</div>')
    return page("Replays · staff console", body, status, header=_header(session))


def _day(value: str, name: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidInput(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD).") from None


def _number(value: str, name: str, kind: type = int) -> float | int | None:
    if not value.strip():
        return None
    try:
        return kind(value.strip())
    except ValueError:
        raise InvalidInput(f"{name}: {value[:40]!r} is not a number.") from None


def _job_page(job: ReplayJob, session: "StaffSession") -> Response:
    running = job.state == "running"
    if running:
        shown = f"{job.done} of {job.total} turns" if job.total else "preparing the candidate"
        body = (f'<p><progress value="{job.done}" max="{max(job.total, 1)}">{job.done}</progress></p>'
                f'<p>{esc(shown)} · this page refreshes every {REFRESH_S} s.</p>')
    elif job.state == "done":
        gate = "" if job.passed is None else f' The gate {"passed" if job.passed else "failed"}.'
        body = (f'<p class="state done">Finished {esc(job.finished_at.replace("T", " ")[:19])} UTC: '
                f'{job.changed} of {job.n} turns changed.{esc(gate)}</p>'
                f'<a class="button" href="/admin/replays/{esc(job.id)}/report">Open the report</a>')
    else:
        body = f'<div class="error" role="alert">The replay failed: {esc(job.error)}</div>'
    refresh = {"Refresh": str(REFRESH_S)} if running else {}
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if running else ""
    content = (f'{STYLE}{meta}'
               f'<div class="card"><h2>Replay {esc(job.id)}</h2><p class="muted">Candidate: {esc(job.candidate)} · '
               f'started by {esc(job.started_by)} at {esc(job.started_at.replace("T", " ")[:19])} UTC · '
               f'<span class="state {esc(job.state)}">{esc(job.state)}</span></p>{body}'
               '<p><a href="/admin/replays">All replays</a></p></div>')
    return page(f"Replay {job.id} · staff console", content, header=_header(session), headers=refresh)


def replay_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)

    @router.get("/admin/replays")
    def replays(session: "StaffSession" = Depends(require_role("editor"))) -> Response:
        """The replay form and the latest replays."""
        return _form_page(services, session)

    @router.post("/admin/replays")
    def start(request: Request, session: "StaffSession" = Depends(require_role("editor")),
              since: str = Form(""), until: str = Form(""), language: str = Form(""), channel: str = Form(""),
              action: str = Form(""), feedback: str = Form(""), limit: str = Form(""), labelled: str = Form(""),
              kb_version: str = Form(""), generator: str = Form(""), model_version: str = Form(""),
              settings: str = Form(""), baseline: str = Form(""), fail_if: str = Form(""),
              max_regression: str = Form("")) -> Response:
        """Start a replay of the chosen turns against the candidate."""
        try:
            selection = ReplaySlice(_day(since, "From"), _day(until, "Before"), (), language.strip() or None,
                                    channel.strip() or None, action or None, feedback or None, bool(labelled),
                                    _number(limit, "Latest N turns"))  # type: ignore[arg-type]
            candidate = Candidate(None, _number(kb_version, "KB version"), generator.strip() or None,  # type: ignore[arg-type]
                                  model_version.strip() or None,
                                  parse_overrides([line for line in settings.splitlines() if line.strip()]))
            job = services.start_replay(ReplayRequest(
                selection, None, candidate, "current" if baseline == "current" else None,
                (fail_if.strip(),) if fail_if.strip() else (), _number(max_regression, "Max regression", float)),
                started_by=session.user.name)
        except InvalidInput as error:
            return _form_page(services, session, str(error), 422)
        except Conflict as error:
            return _form_page(services, session, str(error), 409)
        return RedirectResponse(f"/admin/replays/{job.id}", status_code=303, headers=HEADERS)

    @router.get("/admin/replays/{job_id}")
    def job_page(job_id: str, session: "StaffSession" = Depends(require_role("editor"))) -> Response:
        """A replay's progress, then its headline figures and a link to its report."""
        try:
            return _job_page(services.replay_job(job_id), session)
        except UnknownItem as error:
            return page("Replay · staff console", f'<div class="card"><div class="error">{esc(error)}</div>'
                        '<a href="/admin/replays">All replays</a></div>', 404, header=_header(session))

    @router.get("/admin/replays/{job_id}/report")
    def report(job_id: str, session: "StaffSession" = Depends(require_role("editor"))) -> Response:
        """A finished replay's HTML report (self-contained; its own CSP allows its one script)."""
        try:
            path = services.replay_report_file(job_id)
        except UnknownItem as error:
            return page("Replay · staff console", f'<div class="card"><div class="error">{esc(error)}</div></div>',
                        404, header=_header(session))
        return HTMLResponse(path.read_text(encoding="utf-8"),
                            headers={**HEADERS, "Content-Security-Policy": REPORT_CSP})

    return router
