"""The import pages: upload knowledge-base files, then follow the import as it runs in the
background, and read its report (per file: entries new, updated, unchanged, rows rejected, or why
the whole file was refused; per rejected row: file, line, reason). No script: the progress page
reloads itself (`<meta http-equiv="refresh">`) until the import is done.

    GET  /admin/imports              editor: the upload form and the recent imports
    POST /admin/imports              editor: multipart `files` -> 303 to the job's page
    GET  /admin/imports/{job_id}     editor: a <progress> bar while it runs, then the report
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from chatbot.errors import InvalidInput, UnknownItem
from chatbot.import_jobs import readable_size
from knowledge_base.importers.readers import READERS
from ui.console.auth import CSRF_FIELD, staff_gate
from ui.console.html import HEADERS, esc, page, staff_header
from ui.console.uploads import FILES_FIELD, upload_gate, uploaded_files

if TYPE_CHECKING:
    from chatbot.import_jobs import ImportJob
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

REFRESH_S = 1  # how often the progress page reloads while the import runs
STATES = {"queued": "Waiting for the import before it to finish…", "indexing": "Updating the search index…",
          "done": "Done. The bot answers from the imported entries now.", "failed": "The import failed."}


def _time(job: "ImportJob") -> str:
    return job.created_at.strftime("%Y-%m-%d %H:%M:%S")


def upload_form(csrf_token: str, limit: int, jobs: list["ImportJob"], error: str = "") -> str:
    """The upload form (any number of files of any supported format) and the recent imports."""
    alert = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
    accept = ",".join(sorted(READERS))
    rows = "".join(f'<tr><td><a href="/admin/imports/{esc(j.id)}">{esc(_time(j))}</a></td>'
                   f'<td>{esc(", ".join(j.files))}</td><td>{esc(j.author)}</td><td>{esc(j.state)}</td></tr>'
                   for j in jobs)
    recent = (f'<div class="card"><h2>Recent imports</h2><div class="scroll"><table><tr><th>Started (UTC)</th>'
              f'<th>Files</th><th>By</th><th>State</th></tr>{rows}</table></div></div>' if jobs else "")
    return (f'<div class="card"><h2>Import files</h2>{alert}'
            '<p>Entries are matched by <code>id</code>: a new id adds an entry, a known one updates it. Tables '
            '(CSV, TSV, XLSX) need the columns <code>question</code> and <code>answer</code>; JSON and JSONL hold '
            'objects with the same fields; documents (Markdown, HTML, TXT, PDF, DOCX) are cut into entries at '
            'their headings.</p>'
            f'<form method="post" action="/admin/imports" enctype="multipart/form-data">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf_token)}">'
            f'<label for="{FILES_FIELD}">Files</label>'
            f'<input type="file" id="{FILES_FIELD}" name="{FILES_FIELD}" multiple required accept="{esc(accept)}">'
            f'<div class="muted">{esc(", ".join(sorted(READERS)))}; up to {esc(readable_size(limit))} in all.</div>'
            '<button type="submit">Import</button> <a class="button quiet" href="/admin/entries">Cancel</a>'
            f'</form></div>{recent}')


def _file_rows(job: "ImportJob") -> str:
    rows = []
    for report in job.reports:
        outcome = (f'<span class="error-text">Refused: {esc(report.refused)}</span>' if report.refused else
                   f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged")
        rows.append(f"<tr><td>{esc(report.path)}</td><td>{outcome}</td><td>{len(report.errors)}</td></tr>")
    return "".join(rows)


def job_page(job: "ImportJob") -> str:
    """A job's progress, and once files are done, their counts and the rejected rows."""
    refresh = "" if job.finished else f'<meta http-equiv="refresh" content="{REFRESH_S}">'
    if job.state == "importing":
        number = min(job.files_done + 1, len(job.files))
        step = (f"Storing {job.current_file}: {job.current_stored} of {job.current_entries} entries"
                if job.current_file else f"Reading {job.files[number - 1]}")
        status = f"{step} (file {number} of {len(job.files)})."
    else:
        status = STATES.get(job.state, job.state)
    error = f'<div class="error" role="alert">{esc(job.error)}</div>' if job.error else ""
    bar = (f'<progress id="progress" max="{job.total}" value="{job.done:.3f}">'
           f"{round(100 * job.done / job.total)} %</progress>")
    head = (f'{refresh}<div class="card"><h2>Import of {esc(", ".join(job.files))}</h2>'
            f'<p class="muted">Started {esc(_time(job))} UTC by {esc(job.author)}</p>{bar}'
            f'<p id="status" role="status">{esc(status)}</p>{error}')
    if not job.reports:
        return head + "</div>"
    files = ('<h3>Files</h3><div class="scroll"><table><tr><th>File</th><th>Entries</th><th>Rows rejected</th></tr>'
             f"{_file_rows(job)}</table></div>")
    rejected = [e for report in job.reports for e in report.errors]
    rows = "".join(f"<tr><td>{esc(e.file)}</td><td>{e.line}</td><td>{esc(e.reason)}</td></tr>" for e in rejected)
    report = ('<h3>Rejected rows</h3><div class="scroll"><table id="rejected"><tr><th>File</th><th>Line</th>'
              f'<th>Reason</th></tr>{rows}</table></div>' if rejected else
              '<p class="muted">No row was rejected.</p>')
    more = ('<p><a href="/admin/entries">See the entries</a> · <a href="/admin/imports">Import more</a></p>'
            if job.finished else "")
    return f"{head}{files}{report if job.finished or rejected else ''}{more}</div>"


IMPORT_STYLE = ("<style>progress{width:100%;height:22px;margin:8px 0}h3{font-size:16px;margin:18px 0 6px}"
                ".error-text{color:#991b1b}"
                'input[type=file]{width:100%;padding:8px 0}</style>')


def import_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)
    editor = Depends(require_role("editor"))
    within_limit = Depends(upload_gate(services))

    def show(title: str, body: str, session: "StaffSession", status: int = 200) -> Response:
        return page(f"{title} · staff console", IMPORT_STYLE + body, status, header=staff_header(session, "/admin/entries"))

    @router.get("/admin/imports")
    def imports(session: "StaffSession" = editor) -> Response:
        """The upload form and the recent imports."""
        body = upload_form(session.csrf_token, services.settings.max_upload_bytes, services.recent_imports())
        return show("Import files", body, session)

    @router.post("/admin/imports")
    async def start(request: Request, _: None = within_limit, session: "StaffSession" = editor) -> Response:
        """Start importing the uploaded files in the background; on to the job's page."""
        try:
            uploads = await uploaded_files(request)
            job = await run_in_threadpool(services.start_import, uploads, session.user.name)
        except InvalidInput as error:
            body = upload_form(session.csrf_token, services.settings.max_upload_bytes, services.recent_imports(),
                               str(error))
            return show("Import files", body, session, 422)
        return RedirectResponse(f"/admin/imports/{job.id}", status_code=303, headers=HEADERS)

    @router.get("/admin/imports/{job_id}")
    def job(job_id: str, session: "StaffSession" = editor) -> Response:
        """An import's progress, then its report."""
        try:
            found = services.import_job(job_id)
        except UnknownItem as error:
            body = (f'<div class="card"><h2>No such import</h2><div class="error" role="alert">{esc(error)}</div>'
                    '<p><a href="/admin/imports">Import files</a></p></div>')
            return show("No such import", body, session, 404)
        return show("Import", job_page(found), session)

    return router
