"""Importing fuzzed knowledge-base files through the path `chatbot kb import` takes
(`Services.import_files`, or the CLI itself) and checking what happened: a report for every file
(refused with a reason, or rows imported and rejected, each rejection with its line and reason,
every row accounted for), no exception, and nothing already stored changed.

"Changed" is judged per entry: an entry stored before an import may change only if a file of that
import names its id, or if it came from a file of the same name (its default ids are the same);
no entry ever disappears.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from fuzz_problems import Problems, TracebackCatcher
from kb_files import KbFile

from chatbot.services import Services
from knowledge_base.importers.importing import FileReport

Snapshot = dict[str, tuple[dict, int]]  # id -> (fields, version)


def snapshot(services: Services) -> Snapshot:
    return {entry.id: (entry.to_dict(), entry.version) for entry in services.knowledge_base.list_entries()}


REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCT = tuple(str(REPO_ROOT / package) for package in ("chatbot", "knowledge_base", "ui"))


def where_raised(error: BaseException) -> str:
    """The innermost frame of the product's code that the error passed (it groups problems),
    and the innermost frame of all."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    ours = [frame for frame in frames if frame.filename.startswith(PRODUCT)]
    last = frames[-1]
    where = f"{Path(last.filename).name}:{last.lineno} {last.name}"
    if ours and ours[-1] is not last:
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} {ours[-1].name} -> {where}"
    return where


def write_files(folder: Path, files: list[KbFile]) -> list[Path]:
    """Each file under `folder` (a subfolder per repeated name, so that none overwrites another)."""
    paths = []
    for number, file in enumerate(files):
        path = folder / file.name
        if path.exists():
            path = folder / f"same-name-{number}" / file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
        paths.append(path)
    return paths


def error_detail(error: BaseException) -> str:
    """Where and what, numbers blanked (positions, lengths), so that one bug is one group."""
    return re.sub(r"\d+", "#", f"{str(error)[:90]} (at {where_raised(error)})")


def reproduction(files: list[KbFile]) -> str:
    return "\n".join(f"{file.name}: {file.data!r}" for file in files)


@dataclass
class ImportRun:
    """The state of one import fuzz run against one database."""

    services: Services
    problems: Problems
    folder: Path
    catcher: TracebackCatcher
    files: int = 0  # files whose import was attempted
    batches: int = 0
    stems: dict[str, set[str]] = field(default_factory=dict)  # entry id -> names of files that wrote it
    isolated: set[str] = field(default_factory=set)  # errors already narrowed to a file

    def stored_ids(self) -> list[str]:
        """Ids of entries that earlier rows named (rows of new files may update them)."""
        return sorted(i for i in snapshot(self.services) if i.startswith("fz-"))

    def import_batch(self, files: list[KbFile]) -> None:
        """Import `files` in one call, as `chatbot kb import a b c` does, and check it all."""
        self.batches += 1
        folder = self.folder / f"batch-{self.batches}"
        folder.mkdir(parents=True)
        paths = write_files(folder, files)
        self.catcher.current = reproduction(files)
        before = snapshot(self.services)
        self.files += len(files)
        try:
            reports = self.services.import_files(paths)
        except Exception as error:  # noqa: BLE001 - the finding: an import must report, not raise
            self.check_unchanged(before, files)
            in_index = any(frame.name == "sync_index" for frame in traceback.extract_tb(error.__traceback__))
            signature = f"{type(error).__name__} at {where_raised(error)}"
            if in_index and signature in self.isolated:
                # An index that every import now fails to write: narrowing it down again would
                # cost a full rebuild per file, and tell nothing new.
                self.problems.add("Services.import_files", f"raised {type(error).__name__}",
                                  error_detail(error), reproduction(files))
            else:
                self.isolated.add(signature)
                self.isolate(files, paths)
            return
        self.check_reports(files, paths, reports)
        self.check_unchanged(before, files, reports)

    def isolate(self, files: list[KbFile], paths: list[Path]) -> None:
        """After a batch raised: import each file alone to name the one(s) that raise."""
        culprits = 0
        for file, path in zip(files, paths):
            self.catcher.current = reproduction([file])
            before = snapshot(self.services)
            try:
                reports = self.services.import_files([path])
            except Exception as error:  # noqa: BLE001 - the finding
                culprits += 1
                self.problems.add("Services.import_files", f"raised {type(error).__name__}",
                                  error_detail(error), reproduction([file]))
                reports = None
            else:
                self.check_reports([file], [path], reports)
            self.check_unchanged(before, [file], reports)
        if not culprits:
            self.problems.add("Services.import_files", "raised on a batch, on none of its files alone", "",
                              reproduction(files))

    def check_reports(self, files: list[KbFile], paths: list[Path], reports: list[FileReport]) -> None:
        if len(reports) != len(files):
            self.problems.add("import report", "not one report per file", f"{len(reports)} for {len(files)}",
                              reproduction(files))
            return
        for file, path, report in zip(files, paths, reports):
            kind = "document" if file.document else Path(file.name).suffix.lower()
            where = f"import report ({kind})"
            if report.refused:
                if report.created or report.updated or report.unchanged:
                    self.problems.add(where, "refused, yet entries imported", report.refused[:80], file.name)
                continue
            for error in report.errors:
                if not error.reason.strip() or error.line < 1 or error.file != str(path):
                    self.problems.add(where, "rejection without its file, line and reason", str(error)[:100],
                                      reproduction([file]))
            accounted = report.imported + len(report.errors)
            if file.rows is not None and not file.rows - file.repeats <= accounted <= file.rows:
                self.problems.add(where, "rows neither imported nor rejected (or counted twice)",
                                  f"{report.imported} imported + {len(report.errors)} rejected for "
                                  f"{file.rows} rows ({file.repeats} repeated ids)", reproduction([file]))

    def check_unchanged(self, before: Snapshot, files: list[KbFile],
                        reports: list[FileReport] | None = None) -> None:
        """Entries stored before may change only if a file of the import names them or wrote
        them; a file refused whole (per `reports`) changes nothing."""
        after = snapshot(self.services)
        refused = [f for f, r in zip(files, reports or []) if r.refused]
        accepted = [file for file in files if file not in refused]
        names = {file.name for file in accepted}
        named = set().union(*(file.named_ids for file in accepted))
        for entry_id, (fields, version) in before.items():
            if entry_id not in after:
                self.problems.add("knowledge base", "an entry disappeared in an import", "", reproduction(files))
            elif after[entry_id] != (fields, version) and entry_id not in named \
                    and not self.stems.get(entry_id, set()) & names:
                wrote = ", ".join(sorted(self.stems.get(entry_id, {"the base FAQ"})))
                self.problems.add("knowledge base", "an entry stored earlier changed, though no file of the "
                                  "import names it or has its file's name", "",
                                  f"entry {entry_id!r}, written earlier by {wrote}; now by:\n"
                                  + reproduction(files))
        for file in refused:
            left = sorted(i for i in file.named_ids - named if before.get(i) != after.get(i))
            if left:
                self.problems.add("knowledge base", "a file refused whole still changed entries",
                                  f"{len(left)} entries", reproduction([file]))
        for entry_id, value in after.items():
            if before.get(entry_id) != value:
                self.stems.setdefault(entry_id, set()).update(file.name for file in files)
