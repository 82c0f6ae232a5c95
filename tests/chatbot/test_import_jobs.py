"""Background imports (`Services.start_import`): the job's progress moves with the real import's
own steps (files read, batches stored, files done, the index update), reports name the files as
uploaded, jobs run one at a time, and a failure is said, never lost."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from chatbot.errors import DatabaseUnavailable, InvalidInput, UnknownItem
from chatbot.import_jobs import ImportJob, ImportJobs, Upload, upload_name
from chatbot.services import Services
BATCH = 10  # the repository's batch, made small: a few rows show progress inside one file
ROWS = BATCH * 2 + 5  # three batches


def big_csv() -> bytes:
    lines = ["id,question,answer"] + [f"q{n},Question number {n}?,Answer {n}." for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def wait(services: Services, job_id: str, timeout_s: float = 120) -> ImportJob:
    deadline = time.monotonic() + timeout_s
    while not (job := services.import_job(job_id)).finished:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


class Watching:
    """Forwards the import's steps to the job's own listener, then notes the job as it stands."""

    def __init__(self, listener, services: Services) -> None:
        self.listener, self.services, self.seen = listener, services, []

    def __getattr__(self, step: str):
        def forward(*args) -> None:
            getattr(self.listener, step)(*args)
            job = self.services.recent_imports()[0]
            self.seen.append((step, job.state, job.done, job.current_stored))
        return forward


def test_progress_follows_the_real_import_step_by_step(make_services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("knowledge_base.repository.UPSERT_BATCH", BATCH)
    services: Services = make_services()
    watchers: list[Watching] = []

    def watched_import(paths: list[Path], listener) -> list:
        watchers.append(Watching(listener, services))
        return services.import_files(paths, listener=watchers[-1])

    uploads = [Upload("C:\\Users\\ann\\big faq.csv", io.BytesIO(big_csv())),
               Upload("notes.pdf", io.BytesIO(b"just text, no PDF"))]
    job = services.import_jobs.start(uploads, "ann", run=watched_import)
    assert (job.files, job.total, job.author) == (["big faq.csv", "notes.pdf"], 3, "ann")
    done = wait(services, job.id)
    seen = watchers[0].seen
    assert [s[0] for s in seen] == ["file_read", "entries_stored", "entries_stored", "entries_stored",
                                    "file_done", "file_done"]
    assert [s[3] for s in seen[1:4]] == [BATCH, BATCH * 2, ROWS]  # batch by batch
    fractions = [s[2] for s in seen]
    assert fractions == sorted(fractions) and 0 < fractions[1] < fractions[2] < 1  # inside the first file
    assert seen[-1][1:3] == ("indexing", 2.0)  # every file done; the index update is the last step
    assert (done.state, done.done, done.total, done.error) == ("done", 3.0, 3, "")
    table, pdf = done.reports
    assert (table.path, table.created, table.errors) == ("big faq.csv", ROWS, [])
    assert pdf.refused.startswith("notes.pdf: not a PDF file")
    assert services.index_store.read_manifest().entry_count == ROWS
    assert not any((services.settings.home / "uploads").iterdir())  # the saved files are gone


def test_jobs_run_one_at_a_time_and_a_failure_is_reported(tmp_path: Path) -> None:
    jobs = ImportJobs(tmp_path / "uploads", max_upload_bytes=1024)
    release, order = threading.Event(), []

    def first(paths: list[Path], listener) -> list:
        order.append("first")
        release.wait(10)
        return []

    def second(paths: list[Path], listener) -> list:
        order.append("second")
        raise DatabaseUnavailable("sqlite:///x: unable to open database file")

    one = jobs.start([Upload("a.csv", io.BytesIO(b"question,answer\n"))], "ann", run=first)
    two = jobs.start([Upload("b.csv", io.BytesIO(b"question,answer\n"))], "bob", run=second)
    time.sleep(0.3)
    assert jobs.get(two.id).state == "queued" and order == ["first"]
    release.set()
    deadline = time.monotonic() + 10
    while not jobs.get(two.id).finished and time.monotonic() < deadline:
        time.sleep(0.02)
    failed = jobs.get(two.id)
    assert order == ["first", "second"] and jobs.get(one.id).state == "done"
    assert failed.state == "failed" and "temporarily unavailable" in failed.error and "sqlite" not in failed.error
    assert [j.id for j in jobs.recent()] == [two.id, one.id]


def test_what_cannot_be_imported_is_refused_before_a_job_starts(tmp_path: Path) -> None:
    jobs = ImportJobs(tmp_path / "uploads", max_upload_bytes=1024)
    never = lambda paths, listener: pytest.fail("no job should run")  # noqa: E731
    with pytest.raises(InvalidInput, match="at least one file"):
        jobs.start([], "ann", run=never)
    with pytest.raises(InvalidInput, match="over the 1 KB limit"):
        jobs.start([Upload("a.csv", io.BytesIO(b"x" * 600)), Upload("b.csv", io.BytesIO(b"x" * 600))], "ann", run=never)
    with pytest.raises(InvalidInput, match="more than one import takes"):
        jobs.start([Upload(f"{n}.csv", io.BytesIO(b"")) for n in range(21)], "ann", run=never)
    with pytest.raises(InvalidInput, match="no usable name"):
        jobs.start([Upload("../", io.BytesIO(b"x"))], "ann", run=never)
    assert jobs.recent() == [] and list((tmp_path / "uploads").iterdir()) == []
    with pytest.raises(UnknownItem):
        jobs.get("nope")
    assert upload_name("../../etc/passwd") == "passwd" and upload_name("C:\\a\\b.xlsx") == "b.xlsx"
    assert upload_name(".hidden.csv") == "hidden.csv"
