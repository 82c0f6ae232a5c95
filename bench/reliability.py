"""Reliability under load and failure: 50 customers x 20 turns over real HTTP against a real
`chatbot serve` process, which is killed (`kill -9`) and restarted at once mid-load; on PostgreSQL
the database server is also restarted mid-load. One table per database.

Each customer is a thread with its own keep-alive HTTP client and its own conversation: the first
turn starts it, every later turn sends the id the server issued. A turn is *answered* when the
client got a 200; a turn that failed (connection refused or reset while the server is down, a
503 while the database restarts, a timeout) is retried, the same text with the same conversation
id, until it is answered or `--give-up-s` has passed.

Every attempt of one turn carries the same `Idempotency-Key` (a fresh uuid4 per turn), as a
client should: the server answers a retry of a turn it already logged from the log instead of
logging it again, the first turn of a conversation included (the retry gets the conversation id
that the lost answer carried). `--no-keys` sends none, to see what the keys prevent.

How a retried turn is counted: every attempt is *sent*; the turn is *answered* once, when one of
its attempts got a 200. Each turn's text carries a unique reference (`ref c07t13`), so the
database can be read back afterwards: *stored* counts the turns whose reference is in the
database, *lost* those answered but not stored, *duplicated* those stored more than once (a
turn the server stored but whose answer never reached the client, which then retried it: the
turns in flight that were committed just before a kill -9; without keys the server cannot tell
such a retry from a new turn; a first turn's retry would also start a second conversation), and
*stored, unanswered* those stored although the client never saw an answer.

    .venv/bin/python bench/reliability.py [--database sqlite|postgres|both] [--customers 50] [--turns 20]

The server runs with the extractive generator (fast and exact) and the demo knowledge base, in
a fresh CHATBOT_HOME in a temporary folder; PostgreSQL is a throwaway server
(tests/pg_server.py). Nothing is mocked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
# The repository first: tests/chatbot (a folder of tests) would otherwise shadow the package.
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]  # pg_server: the tests' throwaway PostgreSQL

REFERENCE = re.compile(r"\(ref c(\d+)t(\d+)\)")
QUESTIONS = [json.loads(line)["query"] for line in
             (REPO_ROOT / "knowledge_base/demo/testset_en.jsonl").read_text().splitlines() if line.strip()]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`chatbot serve` in a process of its own (this checkout's code), restartable."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180) -> float:
        """Start and wait until /api/health answers 200; returns the seconds it took."""
        started = time.monotonic()
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /api/health in {timeout_s} s; see {self.log}")

    def kill(self) -> None:
        """`kill -9`: no shutdown, no flush, connections cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Tally:
    """What the customers saw, over all their threads."""

    sent: int = 0
    answered: set[str] = field(default_factory=set)  # references of turns that got a 200
    given_up: set[str] = field(default_factory=set)
    errors: Counter = field(default_factory=Counter)  # "503", "conn-refused", "read-error", ...
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, outcome: str | None, reference: str) -> None:
        with self.lock:
            self.sent += 1
            if outcome is None:
                self.answered.add(reference)
            else:
                self.errors[outcome] += 1


def outcome_of(error: Exception) -> str:
    """A short name for a failed attempt."""
    if isinstance(error, httpx.ConnectError):
        return "conn-refused"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)):
        return "conn-reset"
    return type(error).__name__


def customer(number: int, turns: int, url: str, tally: Tally, give_up_s: float, progress: Counter,
             keys: bool = True) -> None:
    """One customer: `turns` questions in one conversation, each retried until answered, every
    attempt of a turn with the turn's `Idempotency-Key` (unless not `keys`)."""
    conversation: str | None = None
    with httpx.Client(base_url=url, timeout=30) as http:
        for turn in range(turns):
            reference = f"c{number:02d}t{turn:02d}"
            text = f"{QUESTIONS[(number * 7 + turn) % len(QUESTIONS)]} (ref {reference})"
            headers = {"Idempotency-Key": uuid.uuid4().hex} if keys else {}
            deadline = time.monotonic() + give_up_s
            pause = 0.2
            while True:
                try:
                    response = http.post("/api/ask", json={"message": text, "conversation_id": conversation},
                                         headers=headers)
                    if response.status_code == 200:
                        conversation = response.json()["conversation_id"]
                        tally.attempt(None, reference)
                        break
                    tally.attempt(str(response.status_code), reference)
                    if response.status_code < 500:  # the server refused the turn itself: not retried
                        tally.given_up.add(reference)
                        break
                except httpx.HTTPError as error:
                    tally.attempt(outcome_of(error), reference)
                if time.monotonic() > deadline:
                    tally.given_up.add(reference)
                    break
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
            with tally.lock:
                progress["turns"] += 1


def stored_references(database_url: str) -> Counter:
    """How many times each turn reference is stored as a customer message, over all conversations."""
    from sqlalchemy import text

    from chatbot.conversations.database import create_db_engine

    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT content FROM messages WHERE role = 'user'")).scalars().all()
    finally:
        engine.dispose()
    found: Counter = Counter()
    for content in rows:
        for customer_number, turn in REFERENCE.findall(content):
            found[f"c{int(customer_number):02d}t{int(turn):02d}"] += 1
    return found


def run_database(kind: str, customers: int, turns: int, give_up_s: float, keys: bool = True) -> dict:
    """One run on `kind` ("sqlite" | "postgres"): load, failures, then the database read back."""
    folder = Path(tempfile.mkdtemp(prefix=f"reliability-{kind}-"))
    home = folder / "home"
    env = {**os.environ, "CHATBOT_HOME": str(home), "CHATBOT_GENERATOR": "extractive",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    postgres = None
    if kind == "postgres":
        from pg_server import PostgresServer

        postgres = PostgresServer.start_new()
        env["CHATBOT_DATABASE_URL"] = postgres.create_database("reliability")
    database_url = env.get("CHATBOT_DATABASE_URL", f"sqlite:///{home / 'chatbot.db'}")
    demo = subprocess.run([sys.executable, "-m", "ui.cli", "kb", "demo"], check=False, env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    if demo.returncode != 0:
        raise RuntimeError(f"chatbot kb demo failed:\n{demo.stderr[-2000:]}")
    server = ServerProcess(env, free_port(), folder / "server.log")
    events: list[str] = []
    tally, progress = Tally(), Counter()
    try:
        events.append(f"server up in {server.start():.1f} s")
        threads = [threading.Thread(target=customer, args=(n, turns, server.url, tally, give_up_s, progress, keys))
                   for n in range(customers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        total = customers * turns
        # The failures, each once a share of the turns is done: kill -9 and restart the server at
        # once; on PostgreSQL, restart the database server later.
        plan = [(0.3, "kill -9 server")] + ([(0.6, "restart PostgreSQL")] if postgres else [])
        for share, action in plan:
            while progress["turns"] < share * total and any(t.is_alive() for t in threads):
                time.sleep(0.05)
            at = time.monotonic() - started
            if action == "kill -9 server":
                server.kill()
                events.append(f"{at:.1f} s: kill -9 at {progress['turns']} turns; back up in {server.start():.1f} s")
            else:
                began = time.monotonic()
                postgres.stop()
                postgres.start()
                events.append(f"{at:.1f} s: PostgreSQL restarted at {progress['turns']} turns "
                              f"in {time.monotonic() - began:.1f} s")
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    stored = stored_references(database_url)
    if postgres is not None:
        postgres.destroy()
    log = (folder / "server.log").read_text(errors="replace")
    return {
        "database": kind, "turns": customers * turns, "sent": tally.sent, "answered": len(tally.answered),
        "given up": len(tally.given_up), "errors": dict(tally.errors.most_common()),
        "stored": len(stored), "stored rows": sum(stored.values()),
        "lost": len(tally.answered - set(stored)),
        "duplicated": sum(1 for count in stored.values() if count > 1),
        "stored, unanswered": len(set(stored) - tally.answered),
        "tracebacks in the server log": log.count("Traceback (most recent call last)"),
        "seconds": round(elapsed, 1), "events": events, "folder": str(folder), "keys": keys,
    }


def print_table(result: dict) -> None:
    rows = [("turns (customers x turns)", result["turns"]), ("sent (attempts, retries included)", result["sent"]),
            ("answered (got a 200)", result["answered"]), ("given up", result["given up"]),
            ("errors by code", ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "none"),
            ("turns in the database", result["stored"]), ("turn rows in the database", result["stored rows"]),
            ("lost (answered, not stored)", result["lost"]),
            ("duplicated (stored twice or more)", result["duplicated"]),
            ("stored, never answered", result["stored, unanswered"]),
            ("tracebacks in the server log", result["tracebacks in the server log"]),
            ("wall time of the load (s)", result["seconds"])]
    width = max(len(name) for name, _ in rows)
    print(f"\n{result['database']}, {'an Idempotency-Key per turn' if result['keys'] else 'no Idempotency-Key'}")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for event in result["events"]:
        print(f"  {event}")
    print(f"  (data and server log: {result['folder']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--give-up-s", type=float, default=120, help="Stop retrying a turn after this long.")
    parser.add_argument("--no-keys", action="store_true", help="Send no Idempotency-Key (the old clients).")
    parser.add_argument("--json", action="store_true", help="Also print each result as one JSON line.")
    args = parser.parse_args()
    for kind in (["sqlite", "postgres"] if args.database == "both" else [args.database]):
        result = run_database(kind, args.customers, args.turns, args.give_up_s, not args.no_keys)
        print_table(result)
        if args.json:
            print(json.dumps(result))


if __name__ == "__main__":
    main()
