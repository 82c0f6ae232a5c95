"""Import knowledge-base files into the database: read, validate, upsert by id, report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tqdm.auto import tqdm

from knowledge_base.importers.base import ImportFileError, RowError
from knowledge_base.importers.readers import read_file
from knowledge_base.repository import KnowledgeBaseRepository

UPSERT_BATCH = 500


@dataclass
class FileReport:
    """What happened to one file. `refused` is set when the whole file was rejected."""

    path: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    refused: str = ""

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def import_files(repository: KnowledgeBaseRepository, paths: Iterable[Path],
                 progress: bool = False) -> list[FileReport]:
    """Import each file; a refused file or a bad row never stops the others."""
    reports = []
    for path in paths:
        report = FileReport(str(path))
        try:
            result = read_file(Path(path))
        except ImportFileError as exc:
            report.refused = str(exc)
            reports.append(report)
            continue
        report.errors = result.errors
        with tqdm(total=len(result.entries), desc=f"Importing {Path(path).name}", unit="entry",
                  disable=not progress) as bar:
            for start in range(0, len(result.entries), UPSERT_BATCH):
                batch = result.entries[start:start + UPSERT_BATCH]
                outcome = repository.upsert(batch, summary=f"import {Path(path).name}")
                report.created += outcome.created
                report.updated += outcome.updated
                report.unchanged += outcome.unchanged
                bar.update(len(batch))
        reports.append(report)
    return reports
