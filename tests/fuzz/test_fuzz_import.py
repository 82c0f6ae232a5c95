"""Fuzzed knowledge-base files through the import path of `chatbot kb import`, on SQLite and on
PostgreSQL.

Every example draws a batch of files (kb_files: every format, good rows mixed with bad ones, NUL,
lone surrogates as JSON escapes, invalid UTF-8, BOMs, fields over 131,072 characters, deep
nesting, huge integers, wrong types, repeated ids, non-ASCII and colliding file names) and
imports it with `Services.import_files`, as the CLI does. Properties, over the whole budget:
- the import never raises: each file is refused with a reason, or its rows are imported or
  rejected (each rejection with its file, line and reason), every row accounted for;
- nothing already stored changed, except entries a file of the import names (import_checks);
- no traceback reaches a log or stderr;
- afterwards a full index rebuild and a question still work, in process and through the real
  `chatbot` command (`kb import` of the last files, `index rebuild`, `ask --json`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from budget import FILES_PER_DATABASE, TIME_LIMIT_S, fuzz_settings, scaled
from fuzz_problems import Problems, catch_tracebacks, check_output_has_no_traceback
from fuzz_services import FuzzTarget
from hypothesis import example, given
from hypothesis import strategies as st
from import_checks import ImportRun, reproduction, snapshot, where_raised, write_files
from kb_files import KbFile, file_specs, render
from pinned_cases import PINNED_FILE_BATCHES

from knowledge_base.embedding.embedder import ENGLISH_EMBEDDER

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES_PER_BATCH = 5  # one import call, one index update, for five files
CLI_FILES = 15  # the last files of the run, imported again through the real command
QUESTION = "How long does shipping take?"


@pytest.fixture(scope="module")
def fuzz_embedding_model() -> str:
    """The English model, not "auto": the fuzzed files hold Chinese, which makes "auto" switch to
    the multilingual model, about 5 times slower on 2 cores (its 512-token inputs), and the
    budget would no longer fit CI. The text boundary is the same whatever the model."""
    return ENGLISH_EMBEDDER


def chatbot(target: FuzzTarget, *args: str) -> subprocess.CompletedProcess:
    """The `chatbot` command of this checkout, in a process of its own, on the target's data."""
    env = {**os.environ, "CHATBOT_HOME": str(target.home), "CHATBOT_GENERATOR": "extractive",
           "CHATBOT_EMBEDDING_MODEL": target.services.settings.embedding_model,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    if target.database == "postgres":
        env["CHATBOT_DATABASE_URL"] = target.url
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], check=False, capture_output=True, text=True,
                          errors="backslashreplace", env=env, cwd=REPO_ROOT, timeout=300)


def check_command(problems: Problems, result: subprocess.CompletedProcess, command: str,
                  codes: tuple[int, ...], repro: str) -> bool:
    """The command exited with one of `codes` and printed no traceback; False if not (an
    uncaught exception exits 1 too: the traceback tells it from a refusal)."""
    output = result.stdout + result.stderr
    check_output_has_no_traceback(problems, f"`chatbot {command}`", output)
    if "Traceback (most recent call last)" in output:
        return False
    if result.returncode not in codes:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        problems.add(f"`chatbot {command}`", f"exit code {result.returncode}", last[:120], repro)
        return False
    return True


def check_cli(run: ImportRun, target: FuzzTarget, files: list[KbFile]) -> None:
    """`chatbot kb import` of `files` (exit 0, or 1 when a file is refused; every file named in
    what it prints), then `chatbot index rebuild` and `chatbot ask --json` still work."""
    folder = run.folder / "cli"
    folder.mkdir(parents=True)
    paths = write_files(folder, files)
    before = snapshot(target.services)
    result = chatbot(target, "kb", "import", *map(str, paths))
    if check_command(run.problems, result, "kb import", (0, 1), reproduction(files)):
        output = result.stdout + result.stderr
        for file, path in zip(files, paths):
            if str(path) not in output:
                run.problems.add("`chatbot kb import`", "a file is not named in the output", "",
                                 reproduction([file]))
    run.check_unchanged(before, files)
    check_command(run.problems, chatbot(target, "index", "rebuild"), "index rebuild", (0,), "")
    result = chatbot(target, "ask", QUESTION, "--json")
    if check_command(run.problems, result, "ask --json", (0,), QUESTION):
        try:
            answer = json.loads(result.stdout)["answer"]
        except (ValueError, KeyError, TypeError):
            answer = None
        if not isinstance(answer, str) or not answer.strip():
            run.problems.add("`chatbot ask --json`", "no answer", result.stdout[:120], QUESTION)


def test_fuzzed_kb_files_import_cleanly(fuzz_target: FuzzTarget, tmp_path: Path,
                                        capfd: pytest.CaptureFixture[str]) -> None:
    budget = scaled(FILES_PER_DATABASE)
    examples = -(-budget // FILES_PER_BATCH) + 2
    services = fuzz_target.services
    problems = Problems(fuzz_target.database)
    recent: list[KbFile] = []
    started = time.monotonic()
    with catch_tracebacks(problems) as catcher:
        run = ImportRun(services, problems, tmp_path / "files", catcher)

        @fuzz_settings(examples)
        @given(specs=st.lists(file_specs, min_size=FILES_PER_BATCH, max_size=FILES_PER_BATCH),
               pick=st.integers(min_value=0, max_value=10**6))
        def fuzz(specs, pick: int) -> None:
            if time.monotonic() - started > TIME_LIMIT_S:
                return  # out of time: the budget check below fails
            stored = run.stored_ids()
            files = [render(spec, run.files + number, stored, pick) for number, spec in enumerate(specs)]
            run.import_batch(files)
            recent[:] = (recent + files)[-CLI_FILES:]

        for batch in PINNED_FILE_BATCHES:
            fuzz = example(specs=batch, pick=0)(fuzz)
        fuzz()
        catcher.current = "index rebuild and a question after the imports"
        try:
            services.sync_index(full=True)
            reply = services.engine.respond(None, QUESTION)
            if not reply.answer.strip():
                problems.add("after the imports", "a question got no answer", "", QUESTION)
        except Exception as error:  # noqa: BLE001 - the finding: the bot no longer works
            problems.add("after the imports", f"index rebuild or question raised {type(error).__name__}",
                         f"{str(error)[:100]} (at {where_raised(error)})", QUESTION)
        imported_in_process = time.monotonic() - started
        check_cli(run, fuzz_target, recent)
    elapsed = time.monotonic() - started
    output = capfd.readouterr()
    check_output_has_no_traceback(problems, "stderr of the imports", output.err)
    print(f"\n[fuzz import {fuzz_target.database}] {run.files} files in {run.batches} imports, "
          f"{imported_in_process:.0f} s in process, {elapsed:.0f} s with the CLI; "
          f"{len(snapshot(services))} entries; {problems.total} problems")
    assert run.files >= budget, (f"only {run.files} of {budget} files were imported in the {TIME_LIMIT_S:.0f} s "
                                 f"limit\n" + problems.report())
    assert not problems, problems.report()
