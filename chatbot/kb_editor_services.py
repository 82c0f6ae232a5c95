"""The knowledge-base services of the console's editor beyond one entry at a time: the filters'
choices, imports in the background (`chatbot.import_jobs`) and exports to download. Mixed into
`chatbot.services.Services`, so the staff API, the pages and the CLI call the same ones; an
import runs `Services.import_files` and an export `Services.export_kb`, exactly as the CLI does.

    >>> job = services.start_import([Upload("faq.csv", handle)], author="alice")
    >>> services.import_job(job.id).state                      # "importing" ... "done"
    >>> services.export_entries("xlsx").name                   # "knowledge-base-v12.xlsx"
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.conversations.database import database_errors
from chatbot.errors import InvalidInput
from chatbot.import_jobs import ImportJob, ImportJobs, Upload

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chatbot.settings import Settings
    from knowledge_base.importers.importing import FileReport, ImportListener
    from knowledge_base.repository import KnowledgeBaseRepository

# What an export may be, with the media type it is sent as.
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class EntryChoices:
    """The values the entries hold, sorted: what the editor's filters offer."""

    categories: list[str]
    languages: list[str]
    tags: list[str]


@dataclass(frozen=True)
class ExportedFile:
    """A whole knowledge base as one file: its name, media type and bytes."""

    name: str
    media_type: str
    content: bytes
    count: int


class KBEditorServices:
    """Mixed into `Services`, whose settings, repository, database, `import_files` and `export_kb`
    these use."""

    settings: "Settings"
    database: "Engine"
    knowledge_base: "KnowledgeBaseRepository"

    if TYPE_CHECKING:
        def import_files(self, paths: list[Path], progress: bool = False,
                         listener: "ImportListener | None" = None) -> list["FileReport"]: ...

        def export_kb(self, path: Path) -> int: ...

    @cached_property
    def import_jobs(self) -> ImportJobs:
        """This process's background imports (made on first use)."""
        return ImportJobs(self.settings.home / "uploads", self.settings.max_upload_bytes)

    def start_import(self, uploads: Sequence[Upload], author: str) -> ImportJob:
        """Save the uploaded files and import them in the background (one KB version per file,
        then the index follows); returns the job to follow with `import_job`. `InvalidInput`,
        importing nothing, for no file, too many or too many bytes."""
        return self.import_jobs.start(uploads, author, run=self.import_files)

    def import_job(self, job_id: str) -> ImportJob:
        """Import job `job_id` as it stands (`UnknownItem` if this process has none)."""
        return self.import_jobs.get(job_id)

    def recent_imports(self) -> list[ImportJob]:
        """The imports this process remembers, the newest first."""
        return self.import_jobs.recent()

    def entry_choices(self) -> EntryChoices:
        """Every category, language and tag the live entries hold (any case kept once)."""
        with database_errors(self.database):
            entries = self.knowledge_base.list_entries()

        def distinct(values: list[str]) -> list[str]:
            kept: dict[str, str] = {}
            for value in values:
                if value.strip():
                    kept.setdefault(value.casefold(), value)
            return sorted(kept.values(), key=str.casefold)

        return EntryChoices(distinct([e.category for e in entries]), distinct([e.language for e in entries]),
                            distinct([t for e in entries for t in e.tags]))

    def export_entries(self, format: str) -> ExportedFile:
        """Every live entry as a file of `format` (csv, tsv, json, jsonl or xlsx) that an import
        reads back; `InvalidInput` for another format."""
        fmt = format.strip().lower()
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"cannot export as {format!r}: choose one of {', '.join(EXPORT_FORMATS)}")
        with tempfile.TemporaryDirectory(prefix="export-") as folder:
            path = Path(folder) / f"entries.{fmt}"
            count = self.export_kb(path)
            content = path.read_bytes()
        with database_errors(self.database):
            version = self.knowledge_base.current_version()
        return ExportedFile(f"knowledge-base-v{version}.{fmt}", EXPORT_FORMATS[fmt], content, count)
