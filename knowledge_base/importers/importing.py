"""Import knowledge-base files into the database: read, validate, upsert by id, report.

Each file is imported whole or not at all: its good rows go into the database in one
transaction, as one KB version. When the database refuses something of a file (a value it cannot
store, a constraint), nothing of that file is stored and its report says why; the other files
are imported. A database that is down or busy stops the import with SQLAlchemy's error, for the
caller to translate (knowledge_base does not know the product's error types).

An `ImportListener` hears the import as it happens (a file read, each batch stored, a file done):
what a progress bar shows comes from the import itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from sqlalchemy.exc import DataError, IntegrityError
from tqdm.auto import tqdm

from knowledge_base.entries import EntryError
from knowledge_base.importers.base import ImportFileError, RowError
from knowledge_base.importers.readers import read_file
from knowledge_base.repository import KnowledgeBaseRepository


@dataclass
class FileReport:
    """What happened to one file. `refused` is set when the whole file was rejected (then
    nothing of it was stored)."""

    path: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    refused: str = ""

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


class ImportListener(Protocol):
    """Told of an import's progress, from the thread that runs it."""

    def file_read(self, path: str, entries: int) -> None:
        """`path` was read: `entries` of its rows are about to be stored."""

    def entries_stored(self, path: str, count: int) -> None:
        """`count` more of `path`'s entries were written (inside its transaction)."""

    def file_done(self, report: "FileReport") -> None:
        """`path` is imported or refused, as `report` says."""


def _refusal(path: Path, error: Exception) -> str:
    """Why the database refused a file, in one line (the driver's first line, no SQL)."""
    reason = str(getattr(error, "orig", None) or error).strip().split("\n")[0]
    return f"{path}: the database refused it, so nothing of this file was imported: {reason}"


def import_file(repository: KnowledgeBaseRepository, path: Path, progress: bool = False,
                listener: ImportListener | None = None, author: str = "") -> FileReport:
    """Import one file in one transaction, its changes by `author`; a refused file comes back
    with `refused` set. `progress` shows a bar on the terminal; `listener` hears the same steps."""
    report = FileReport(str(path))
    try:
        result = read_file(Path(path))
    except ImportFileError as exc:
        report.refused = str(exc)
        return report
    report.errors = result.errors
    if listener is not None:
        listener.file_read(str(path), len(result.entries))
    with tqdm(total=len(result.entries), desc=f"Importing {Path(path).name}", unit="entry",
              disable=not progress) as bar:

        def stored(count: int) -> None:
            bar.update(count)
            if listener is not None:
                listener.entries_stored(str(path), count)

        try:
            outcome = repository.upsert(result.entries, summary=f"import {Path(path).name}",
                                        progress=stored, author=author)
        except (DataError, IntegrityError) as exc:
            report.refused = _refusal(path, exc)
            return report
        except (EntryError, UnicodeEncodeError) as exc:  # the readers validate: a bug, but say which file
            report.refused = f"{path}: nothing of this file was imported: {exc}"
            return report
    report.created, report.updated, report.unchanged = outcome.created, outcome.updated, outcome.unchanged
    return report


def import_files(repository: KnowledgeBaseRepository, paths: Iterable[Path], progress: bool = False,
                 listener: ImportListener | None = None, author: str = "") -> list[FileReport]:
    """Import each file (`import_file`) as `author`; a refused file or a bad row never stops the others."""
    reports = []
    for path in paths:
        reports.append(import_file(repository, Path(path), progress=progress, listener=listener, author=author))
        if listener is not None:
            listener.file_done(reports[-1])
    return reports
