"""The replay services (issue 16): one call that selects the turns, replays them under a candidate,
checks the gate and writes the report; and the same as a background job that the console starts
and watches. Mixed into `chatbot.services.Services`, so the CLI and the console call the same.

    >>> outcome = services.replay(ReplayRequest(candidate=Candidate(kb_file=Path("faq.csv")),
    ...                                         fail_if=["resolved_rate<0.9"]))
    >>> outcome.report["gate"]["passed"], outcome.html_path
    >>> job = services.start_replay(ReplayRequest(...), started_by="eddie")   # returns at once
    >>> services.replay_job(job.id).done, .total, .state

Reports live in `CHATBOT_HOME/replays/<id>/` (report.json, report.html, and a job's status.json);
nothing is written to the production log or index.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.errors import Conflict, UnknownItem
from chatbot.evaluation.replay import run_replay
from chatbot.evaluation.replay_candidate import Candidate, ReplayError
from chatbot.evaluation.replay_gate import GateError, check_gate, parse_rule
from chatbot.evaluation.replay_report import write_html, write_json
from chatbot.evaluation.replay_source import ReplaySlice, ReplayTurn, logged_turns, turns_of_test_set
from chatbot.evaluation.cases import TestSetError

if TYPE_CHECKING:
    from chatbot.generators.base import Generator
    from chatbot.settings import Settings
    from sqlalchemy.engine import Engine

JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
STATUS_FILE, JSON_FILE, HTML_FILE = "status.json", "report.json", "report.html"
STATUS_EVERY_S = 0.5  # how often a running job writes its progress


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay (a slice of the log, or a test set file), under which candidate, against
    which baseline ("current": the bot in service; "kb-version:N"; or an earlier report's JSON
    path), with which gate, written where (None: a new folder under `CHATBOT_HOME/replays/`)."""

    selection: ReplaySlice = field(default_factory=ReplaySlice)
    test_set: Path | None = None
    candidate: Candidate = field(default_factory=Candidate)
    baseline: str | None = None
    fail_if: tuple[str, ...] = ()
    max_regression: float | None = None
    out_dir: Path | None = None


@dataclass(frozen=True)
class ReplayOutcome:
    report: dict
    json_path: Path
    html_path: Path


@dataclass
class ReplayJob:
    """A replay started from the console, as its status file has it."""

    id: str
    state: str  # "running" | "done" | "failed"
    started_by: str
    started_at: str
    candidate: str
    done: int = 0
    total: int = 0
    finished_at: str = ""
    error: str = ""
    changed: int | None = None
    n: int | None = None
    passed: bool | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _new_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class ReplayServices:
    """Mixed into `Services`, whose settings, database and KB these use."""

    settings: "Settings"
    database: "Engine"
    _replay_lock = threading.Lock()  # one replay job at a time: the cores serve customers too

    @property
    def replays_dir(self) -> Path:
        return self.settings.home / "replays"

    def replay_turns(self, request: ReplayRequest) -> list[ReplayTurn]:
        """The turns `request` selects; `ReplayError` for a bad selection or test set."""
        try:
            if request.test_set is not None:
                return turns_of_test_set(request.test_set)
            return logged_turns(self.database, request.selection)
        except (TestSetError, ValueError) as error:
            raise ReplayError(str(error)) from None

    def _baseline(self, name: str | None) -> Candidate | dict | None:
        if name is None:
            return None
        if name == "current":
            return Candidate()
        if name.startswith("kb-version:"):
            try:
                return Candidate(kb_version=int(name.removeprefix("kb-version:")))
            except ValueError:
                raise ReplayError(f"--baseline {name!r}: write kb-version:N with a number N") from None
        try:
            return json.loads(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ReplayError(f"--baseline {name!r}: not 'current', 'kb-version:N' or a replay's JSON "
                              f"report ({error})") from None

    def replay(self, request: ReplayRequest, progress: bool = False, on_progress=None,
               generator: "Generator | None" = None) -> ReplayOutcome:
        """Select, replay, gate and write the report (see the module's docstring). Raises
        `ReplayError` (an `InvalidInput`) for anything the caller must change."""
        try:
            for rule in request.fail_if:  # a typo fails before minutes of replay, not after
                parse_rule(rule)
        except GateError as error:
            raise ReplayError(str(error)) from None
        turns = self.replay_turns(request)
        baseline = self._baseline(request.baseline)
        source = {"test_set": str(request.test_set)} if request.test_set else {"log": request.selection.describe()}
        report = run_replay(self, turns, request.candidate, baseline, progress=progress,  # type: ignore[arg-type]
                            on_progress=on_progress, generator=generator, source=source)
        try:
            report["gate"] = check_gate(report, list(request.fail_if), request.max_regression)
        except GateError as error:
            raise ReplayError(str(error)) from None
        out = Path(request.out_dir) if request.out_dir else self.replays_dir / _new_id()
        return ReplayOutcome(report, write_json(out / JSON_FILE, report), write_html(out / HTML_FILE, report))

    # -- the console's jobs ----------------------------------------------------------------------------
    def start_replay(self, request: ReplayRequest, started_by: str) -> ReplayJob:
        """Start `request` in the background and return its job at once; `Conflict` while another
        runs; `ReplayError` at once for a selection, candidate or gate that cannot work."""
        if not self._replay_lock.acquire(blocking=False):
            raise Conflict("A replay is already running: wait for it to finish, then start this one.")
        try:
            turns = self.replay_turns(request)  # checked now, so the form can say what is wrong
            if not turns:
                raise ReplayError("Nothing to replay: no logged turn matches this selection.")
            for rule in request.fail_if:
                parse_rule(rule)
        except (ReplayError, GateError) as error:
            self._replay_lock.release()
            raise ReplayError(str(error)) from None
        except BaseException:
            self._replay_lock.release()
            raise
        job_id = _new_id()
        job = ReplayJob(job_id, "running", started_by, _now(), request.candidate.label, total=len(turns))
        self._write_status(job)
        request = ReplayRequest(request.selection, request.test_set, request.candidate, request.baseline,
                                request.fail_if, request.max_regression, self.replays_dir / job_id)
        threading.Thread(target=self._run_job, args=(job, request), name=f"replay-{job_id}", daemon=True).start()
        return job

    def _run_job(self, job: ReplayJob, request: ReplayRequest) -> None:
        last = 0.0

        def on_progress(done: int, total: int) -> None:
            nonlocal last
            job.done, job.total = done, total
            if time.monotonic() - last >= STATUS_EVERY_S or done == total:
                last = time.monotonic()
                self._write_status(job)

        try:
            report = self.replay(request, on_progress=on_progress).report
            job.state, job.changed, job.n, job.passed = "done", report["changed"], report["n"], report["gate"]["passed"]
        except Exception as error:  # noqa: BLE001  (a job's failure is shown on its page, not lost)
            job.state, job.error = "failed", str(error) or type(error).__name__
        finally:
            job.finished_at = _now()
            self._write_status(job)
            self._replay_lock.release()

    def _write_status(self, job: ReplayJob) -> None:
        folder = self.replays_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{STATUS_FILE}.tmp"
        temporary.write_text(json.dumps(asdict(job)), encoding="utf-8")
        temporary.replace(folder / STATUS_FILE)  # a reader sees the old status or the new, never half

    def replay_job(self, job_id: str) -> ReplayJob:
        """A job by id; `UnknownItem` for an id that names none."""
        path = self.replays_dir / job_id / STATUS_FILE if JOB_ID.match(job_id or "") else None
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path else None
        except (OSError, json.JSONDecodeError):
            data = None
        if not isinstance(data, dict):
            raise UnknownItem(f"No replay has the id {str(job_id)[:40]!r}.")
        job = ReplayJob(**{k: v for k, v in data.items() if k in ReplayJob.__dataclass_fields__})
        if job.state == "running" and not self._replay_lock.locked():
            job.state, job.error = "failed", "interrupted: the server stopped while it ran"
        return job

    def replay_jobs(self, limit: int = 20) -> list[ReplayJob]:
        """The latest jobs, newest first."""
        folders = sorted((p.name for p in self.replays_dir.glob("*") if JOB_ID.match(p.name)), reverse=True)
        jobs = []
        for name in folders:
            try:
                jobs.append(self.replay_job(name))
            except UnknownItem:
                continue  # a report written by the CLI, not a job
            if len(jobs) == limit:
                break
        return jobs

    def replay_report_file(self, job_id: str, html: bool = True) -> Path:
        """A finished job's report file; `UnknownItem` while it has none."""
        job = self.replay_job(job_id)
        path = self.replays_dir / job.id / (HTML_FILE if html else JSON_FILE)
        if job.state != "done" or not path.is_file():
            raise UnknownItem(f"The replay {job.id} has no report (it is {job.state}).")
        return path
