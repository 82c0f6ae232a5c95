"""The console's reads of the conversation log at a few thousand conversations, on SQLite: a
search page (no filter, action + feedback, text), a full export in both formats, the inbox, and
one privacy deletion. Conversations are logged through `ConversationStore.log_turn` as the
engine logs them (two turns each, 10 % with feedback, a quarter of second turns handed off).

    python bench/bench_conversation_log.py [--conversations 3000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from chatbot.conversations.database import create_db_engine, upgrade_database
from chatbot.conversations.export import export_lines
from chatbot.conversations.ids import new_conversation_id
from chatbot.conversations.search import ConversationFilter, check_filter
from chatbot.conversations.store import ConversationStore
from chatbot.messages import Citation, Reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=3000)
    count = parser.parse_args().conversations
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade_database(url)
    store = ConversationStore(create_db_engine(url))
    rnd, first, started = random.Random(1), None, time.perf_counter()
    for i in range(count):
        cid = new_conversation_id()
        first = first or cid
        for j, action in enumerate(("answer", rnd.choice(["answer", "clarify", "abstain", "handoff"]))):
            reply = Reply(cid, "An answer.", False, "en", [Citation(1, "e1", "q", 0.8)], 0.8, "extractive", 1,
                          action=action)
            turn = store.log_turn(cid, f"question {i} {j} about parcels", reply, channel=rnd.choice(["web", "widget"]),
                                  visitor_hash="%064x" % (i % 1000))
            if rnd.random() < 0.1:
                store.feedback.give(turn, rnd.choice(["up", "down"]))
    print(f"logged {count} conversations, {2 * count} turns in {time.perf_counter() - started:.1f} s")
    for name, criteria in (("no filter", ConversationFilter()), ("handoff + down", check_filter(action="handoff",
                                                                                               feedback="down")),
                           ("text", check_filter(text=f"question {count - 1}"))):
        started = time.perf_counter()
        page = store.search.search(criteria, 50)
        print(f"search, {name}: {page.total} found, first page in {(time.perf_counter() - started) * 1000:.0f} ms")
    for fmt in ("csv", "jsonl"):
        started = time.perf_counter()
        lines = sum(1 for _ in export_lines(store.search.turns(ConversationFilter(), 100_000), fmt))
        took = time.perf_counter() - started
        print(f"export {fmt}: {lines} lines in {took:.2f} s ({lines / took:.0f} lines/s)")
    started = time.perf_counter()
    items = store.inbox.items()
    print(f"inbox: {len(items)} conversations in {(time.perf_counter() - started) * 1000:.0f} ms")
    started = time.perf_counter()
    done = store.privacy.delete(by="bench", reason="bench", conversation_id=first)
    print(f"privacy deletion: {done.conversations} conversations, {done.turns} turns "
          f"in {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
