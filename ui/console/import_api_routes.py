"""The staff API's imports and export (the JSON twins of the import pages and of the entries'
export link): each one `chatbot` service call, the same the pages make.

    $ curl -s -b jar localhost:7860/api/admin/imports -H "X-CSRF-Token: $CSRF" \\
           -F files=@faq.xlsx -F files=@guide.pdf                  # 202 {"id": "…", "state": "queued", ...}
    $ curl -s -b jar localhost:7860/api/admin/imports/$ID              # progress, then the reports
    $ curl -s -b jar 'localhost:7860/api/admin/entries/export?format=xlsx' -o kb.xlsx

Its router goes before the entries' routes: /api/admin/entries/export is no entry id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from chatbot.import_jobs import MAX_FILES
from ui.console.auth import staff_gate
from ui.console.schemas import ImportJobResponse
from ui.console.uploads import FILES_FIELD, upload_gate, uploaded_files

if TYPE_CHECKING:
    from chatbot.import_jobs import ImportJob
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

# The upload's body in /openapi.json (the route reads it itself, after the size check).
MULTIPART_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": [FILES_FIELD],
    "properties": {FILES_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": f"Up to {MAX_FILES} files: CSV, TSV, XLSX, JSON, JSONL, "
                                                "Markdown, TXT, HTML, PDF or DOCX."}}}}}}}


def job_json(job: "ImportJob") -> dict:
    current = ({"file": job.current_file, "stored": job.current_stored, "entries": job.current_entries}
               if job.current_file else None)
    return {"id": job.id, "state": job.state, "done": round(job.done, 3), "total": job.total, "files": job.files,
            "author": job.author, "current": current, "error": job.error,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "reports": [{"file": r.path, "created": r.created, "updated": r.updated, "unchanged": r.unchanged,
                         "refused": r.refused,
                         "rejected": [{"file": e.file, "line": e.line, "reason": e.reason} for e in r.errors]}
                        for r in job.reports]}


def import_api_router(services: "Services") -> APIRouter:
    """The routes above, bound to `services`."""
    router = APIRouter(prefix="/api/admin", tags=["staff"])
    require_role = staff_gate(services)
    editor = Depends(require_role("editor"))
    within_limit = Depends(upload_gate(services))

    @router.post("/imports", response_model=ImportJobResponse, status_code=202, openapi_extra=MULTIPART_BODY)
    async def start_import(request: Request, response: Response, _: None = within_limit,
                           session: "StaffSession" = editor) -> dict:
        """Import files in the background (multipart field `files`, repeated): answers at once
        with the job; follow it at its Location. 413 over `CHATBOT_MAX_UPLOAD_BYTES`."""
        uploads = await uploaded_files(request)
        job = await run_in_threadpool(services.start_import, uploads, session.user.name)
        response.headers["Location"] = f"/api/admin/imports/{job.id}"
        return job_json(job)

    @router.get("/imports/{job_id}", response_model=ImportJobResponse)
    def import_job(job_id: str, session: "StaffSession" = editor) -> dict:
        """An import's progress (`done` of `total` steps: each file, then the index update) and,
        per file, the entries new, updated, unchanged and the rows rejected (file, line, reason)."""
        return job_json(services.import_job(job_id))

    @router.get("/entries/export", response_class=Response,
                responses={200: {"description": "The file, as an attachment.",
                                 "content": {"text/csv": {}, "application/x-ndjson": {}}}})
    def export(session: "StaffSession" = editor,
               format: str = Query("csv", max_length=10, description="csv, tsv, json, jsonl or xlsx")) -> Response:
        """Every entry as one file an import reads back."""
        exported = services.export_entries(format)
        return Response(exported.content, media_type=exported.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{exported.name}"',
                                 "X-Entry-Count": str(exported.count)})

    return router
