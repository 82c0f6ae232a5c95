"""Fuzzed chat inputs against a real server over real HTTP, on SQLite and on PostgreSQL.

Every drawn case (chat_inputs: arbitrary unicode with lone surrogates, NUL, control and
bidirectional characters, emoji and CJK; texts up to and past every limit and 1 MB bodies; markup,
SQL, JSON-breaking and prompt-injection text; wrong JSON types; real, unknown and malformed
conversation ids; odd headers, encodings and chunked bodies) goes to `/api/ask`,
`/v1/chat/completions` and the same with `stream: true`. Properties, over the whole budget:
- no answer is a 5xx (the database is up: a 503 is a failure here too), and no traceback reaches a
  log or stderr;
- every 4xx carries a clear JSON message in its door's shape (and does not echo the input back);
- every 200 has a text answer (valid UTF-8) and a conversation id; a stream ends with [DONE]
  and holds no error event;
- the conversations already stored never change: each 200 appends exactly one turn to the
  conversation it names, nothing else is written (checked after every case and at the end).

Problems are collected and reported together at the end (kinds, counts, shortest input); the
number of inputs sent is asserted, so that a short run fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from budget import CHAT_INPUTS_PER_DATABASE, TIME_LIMIT_S, fuzz_settings, scaled
from chat_checks import ChatRun
from chat_inputs import ENDPOINTS, chat_cases, render
from fuzz_problems import Problems, catch_tracebacks, check_output_has_no_traceback
from fuzz_services import FuzzTarget
from hypothesis import example, given
from hypothesis import strategies as st
from live_server import running_server
from pinned_cases import PINNED_CHAT_CASES

from chatbot.conversations.database import create_db_engine
from chatbot.conversations.store import ConversationStore
from ui.server import create_app

pytestmark = pytest.mark.integration

SEED_QUESTIONS = ["How long does shipping take?", "Can I pay with PayPal?", "What are your opening hours?"]


@pytest.fixture(scope="module")
def server_url(fuzz_target: FuzzTarget) -> Iterator[str]:
    with running_server(create_app(fuzz_target.services)) as url:
        yield url


def test_fuzzed_chat_inputs_never_break_the_server(fuzz_target: FuzzTarget, server_url: str,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    budget = scaled(CHAT_INPUTS_PER_DATABASE)
    examples = -(-budget // len(ENDPOINTS)) + 20  # every case goes to every endpoint; a margin
    problems = Problems(fuzz_target.database)
    engine = create_db_engine(fuzz_target.url)
    store = ConversationStore(engine)
    turns_before = store.count_turns()
    started = time.monotonic()
    with catch_tracebacks(problems) as catcher, httpx.Client(base_url=server_url, timeout=60) as http:
        run = ChatRun(http, problems, store, catcher)
        for question in SEED_QUESTIONS:  # real conversations to continue, with a turn each
            run.seed(question)
        run.check_conversations(everything=True)

        @fuzz_settings(examples)
        @given(case=chat_cases, pick=st.integers(min_value=0, max_value=10**6))
        def fuzz(case, pick: int) -> None:
            if time.monotonic() - started > TIME_LIMIT_S:
                return  # out of time: the budget check below fails
            for endpoint in ENDPOINTS:
                run.send(render(case, endpoint, run.real_ids, pick))
            run.check_conversations()

        for case in PINNED_CHAT_CASES:
            fuzz = example(case=case, pick=0)(fuzz)
        fuzz()
        run.check_conversations(everything=True)
        turns_after = store.count_turns()
    engine.dispose()
    elapsed = time.monotonic() - started
    output = capfd.readouterr()
    check_output_has_no_traceback(problems, "server stderr", output.err)
    check_output_has_no_traceback(problems, "server stdout", output.out)
    if turns_after - turns_before != run.answered:
        problems.add("conversation store", "turns logged do not match the 200s",
                     f"{turns_after - turns_before} turns logged, {run.answered} answered", "")
    sent = sum(run.sent[endpoint] for endpoint in ENDPOINTS)
    print(f"\n[fuzz chat {fuzz_target.database}] {sent} inputs in {elapsed:.0f} s "
          f"({dict(run.sent)}), statuses {dict(sorted(run.statuses.items()))}, {problems.total} problems")
    assert sent >= budget, (f"only {sent} of {budget} chat inputs were sent in the {TIME_LIMIT_S:.0f} s limit "
                            f"({dict(run.sent)})\n" + problems.report())
    assert not problems, problems.report()
