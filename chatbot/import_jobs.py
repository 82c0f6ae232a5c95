"""Imports that run in the background: the console uploads files, gets a job at once, and follows
its progress while a thread imports them (`Services.import_files`, the CLI's own call).

    >>> job = jobs.start([Upload("faq.xlsx", handle)], "alice", run=services.import_files)
    >>> jobs.get(job.id).done, jobs.get(job.id).total       # 1.4, 3: file 2 of 2 is 40 % stored

Progress comes from the import itself (`ImportListener`): a file counts as done when it is
imported or refused, the file in hand by the share of its entries the database has stored, and
the index update that follows is the last step. Jobs run one at a time (each ends with an index
update) and live in this process's memory: the last `KEPT_JOBS` are kept, a restart forgets them
(what they stored stays, as KB versions). The uploaded files wait in a folder of their own under
`CHATBOT_HOME/uploads`, removed when the job ends; reports name the files as uploaded.
"""

from __future__ import annotations

import copy
import logging
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from chatbot.errors import ChatbotError, InvalidInput, UnknownItem
from knowledge_base.importers.importing import FileReport, ImportListener

log = logging.getLogger(__name__)

KEPT_JOBS = 50
MAX_FILES = 20  # files one import may upload
_CHUNK = 1024 * 1024

# Runs the import of the saved files, telling the listener of its progress (Services.import_files).
ImportRun = Callable[..., list[FileReport]]


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser sent it, and its content."""

    name: str
    content: BinaryIO


@dataclass
class ImportJob:
    """One background import, as it stands. `state` is queued, importing, indexing (the files are
    stored, the index follows them), done or failed (`error` says why)."""

    id: str
    author: str
    files: list[str]
    state: str = "queued"
    files_done: int = 0
    current_file: str = ""
    current_stored: int = 0
    current_entries: int = 0
    reports: list[FileReport] = field(default_factory=list)
    error: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished_at: datetime | None = None

    @property
    def total(self) -> int:
        """Steps of the job: each file, then the index update."""
        return len(self.files) + 1

    @property
    def done(self) -> float:
        """Steps done: the files imported or refused, the share stored of the one in hand, and
        the index update once the job is done."""
        if self.state == "done":
            return float(self.total)
        share = self.current_stored / self.current_entries if self.current_entries else 0.0
        return self.files_done + (share if self.current_file else 0.0)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def upload_name(name: str) -> str:
    """A browser's file name as a plain file name: no folders (a Windows path's either), no
    leading dots; `InvalidInput` if nothing is left."""
    plain = PurePosixPath(name.replace("\\", "/")).name.strip().lstrip(".")
    if not plain:
        raise InvalidInput(f"an uploaded file has no usable name ({name!r}): give it one, e.g. faq.csv")
    return plain[:200]


class _Listener:
    """Hears one job's import and updates it (`ImportListener`), naming files as uploaded."""

    def __init__(self, jobs: "ImportJobs", job: ImportJob, names: dict[str, str]) -> None:
        self._jobs, self._job, self._names = jobs, job, names

    def _name(self, path: str) -> str:
        return self._names.get(path, path)

    def file_read(self, path: str, entries: int) -> None:
        with self._jobs.lock:
            job = self._job
            job.current_file, job.current_stored, job.current_entries = self._name(path), 0, entries

    def entries_stored(self, path: str, count: int) -> None:
        with self._jobs.lock:
            self._job.current_stored += count

    def file_done(self, report: FileReport) -> None:
        named = _renamed(report, self._names)
        with self._jobs.lock:
            job = self._job
            job.reports.append(named)
            job.files_done += 1
            job.current_file, job.current_stored, job.current_entries = "", 0, 0
            if job.files_done == len(job.files):
                job.state = "indexing"


def _renamed(report: FileReport, names: dict[str, str]) -> FileReport:
    """`report` with the saved files' paths replaced by their uploaded names."""

    def clean(text: str) -> str:
        for path, name in names.items():
            text = text.replace(path, name)
        return text

    return replace(report, path=clean(report.path), refused=clean(report.refused),
                   errors=[replace(e, file=clean(e.file), reason=clean(e.reason)) for e in report.errors])


class ImportJobs:
    """The background imports of this process (a registry; see the module's docstring)."""

    def __init__(self, work_dir: Path, max_upload_bytes: int) -> None:
        self.work_dir, self.max_upload_bytes = Path(work_dir), max_upload_bytes
        self.lock = threading.Lock()  # guards every job's fields
        self._one_at_a_time = threading.Lock()
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()

    def start(self, uploads: Sequence[Upload], author: str, run: ImportRun) -> ImportJob:
        """Save `uploads` and import them in a thread with `run(paths, listener=...)`; returns
        the queued job. `InvalidInput` (nothing started) for no file, too many, or more bytes
        than `max_upload_bytes` in all."""
        if not uploads:
            raise InvalidInput("Choose at least one file to import.")
        if len(uploads) > MAX_FILES:
            raise InvalidInput(f"{len(uploads)} files is more than one import takes ({MAX_FILES}): import them in parts.")
        names = [upload_name(u.name) for u in uploads]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="import-", dir=self.work_dir))
        try:
            paths = self._save(folder, uploads, names)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = ImportJob(secrets.token_hex(8), author, names)
        with self.lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next((i for i, j in self._jobs.items() if j.finished), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        listener = _Listener(self, job, {str(p): n for p, n in zip(paths, names)})
        threading.Thread(target=self._run, args=(job, folder, paths, listener, run), daemon=True,
                         name=f"import-{job.id}").start()
        return self.get(job.id)

    def get(self, job_id: str) -> ImportJob:
        """A copy of job `job_id` as it stands; `UnknownItem` if this process has none of that id."""
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise UnknownItem(f"no import job has id {job_id!r} (jobs are kept until the server restarts)")
            return copy.deepcopy(job)

    def recent(self) -> list[ImportJob]:
        """Copies of the kept jobs, the newest first."""
        with self.lock:
            return [copy.deepcopy(job) for job in reversed(self._jobs.values())]

    def _save(self, folder: Path, uploads: Sequence[Upload], names: list[str]) -> list[Path]:
        # Each file in a folder of its own: two uploads may share a name, and the importers take
        # default entry ids from the name (a re-import of the same file updates the same entries).
        paths, total = [], 0
        for number, (upload, name) in enumerate(zip(uploads, names), start=1):
            path = folder / str(number) / name
            path.parent.mkdir()
            with path.open("wb") as out:
                while chunk := upload.content.read(_CHUNK):
                    total += len(chunk)
                    if total > self.max_upload_bytes:
                        raise InvalidInput(f"The upload is over the {readable_size(self.max_upload_bytes)} limit of one "
                                           "import: import fewer or smaller files at a time.")
                    out.write(chunk)
            paths.append(path)
        return paths

    def _run(self, job: ImportJob, folder: Path, paths: list[Path], listener: ImportListener, run: ImportRun) -> None:
        try:
            with self._one_at_a_time:
                with self.lock:
                    job.state = "importing"
                run(paths, listener=listener)
            outcome, error = "done", ""
        except ChatbotError as exc:  # the database down or busy: say so, as the API would
            log.error("import %s failed: %s", job.id, exc)
            outcome, error = "failed", exc.customer_message
        except Exception:  # a bug: logged with its traceback, the page says where to look
            log.exception("import %s failed", job.id)
            outcome, error = "failed", "The import failed unexpectedly; the server's log has the details."
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        with self.lock:
            job.state, job.error, job.finished_at = outcome, error, datetime.now(timezone.utc)
            job.current_file = ""


def readable_size(count: int) -> str:
    """A byte count as people read it: "50 MB", "200 KB", "512 bytes"."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= size:
            return f"{count / size:.0f} {unit}"
    return f"{count} bytes"
