"""Replay time of 1,000 logged turns with the extractive generator, against raw retrieval of the
same questions.

A fresh CHATBOT_HOME (SQLite, extractive generator, the shipped all-MiniLM-L6-v2) imports the demo
KB's English entries; 1,000 customer turns are logged through the engine in conversations of one
to three turns (the KB's phrasings, lightly reworded, follow-ups and out-of-scope questions; a
third of them labelled). Then `Services.replay` (what `chatbot replay` runs) re-runs every turn
under the current KB and writes its reports; the clock covers all of it: selecting the turns,
building the candidate index in its own folder, the engine on every turn, the metrics (with the
answer-similarity embeddings) and the JSON and HTML files. The baseline, in the same run, is
raw `Retriever.search` of the same questions on the index in service.

    python bench/bench_replay.py [--turns 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from chatbot.replay_services import ReplayRequest
from chatbot.services import DEMO_KB, build_services
from chatbot.settings import Settings

MODEL = "all-MiniLM-L6-v2"
OUT_OF_SCOPE = ["What is the capital of Mongolia?", "Can you write me a poem about cats?",
                "Who won the football match yesterday?", "How do I bake sourdough bread?"]
FOLLOW_UPS = ["And how long does that take?", "What if I am abroad?", "Does that cost anything?"]
REWORDINGS = ["{}", "{}", "hi, {}", "{} please", "quick question: {}", "{} thanks"]


def english_kb(folder: Path) -> Path:
    lines = [line for line in DEMO_KB.read_text(encoding="utf-8").splitlines()
             if line.strip() and json.loads(line).get("language", "en") == "en"]
    path = folder / "shop_en.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def conversations(entries: list, count: int, seed: int = 16) -> list[list[tuple[str, str | None]]]:
    """About `count` turns as conversations of (question, expected entry id or None)."""
    rng = random.Random(seed)
    chats, total = [], 0
    while total < count:
        chat = []
        for position in range(min(rng.choice([1, 1, 2, 3]), count - total)):
            roll = rng.random()
            if roll < 0.08:
                chat.append((rng.choice(OUT_OF_SCOPE), None))
            elif roll < 0.16 and position:
                chat.append((rng.choice(FOLLOW_UPS), "-"))
            else:
                entry = rng.choice(entries)
                chat.append((rng.choice(REWORDINGS).format(rng.choice(entry.phrasings)), entry.id))
        chats.append(chat)
        total += len(chat)
    return chats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        services = build_services(Settings(home=home, generator="extractive", embedding_model=MODEL))
        services.import_files([english_kb(Path(folder))])
        services.warm_up()
        entries = services.knowledge_base.list_entries()
        rng = random.Random(7)
        started = time.perf_counter()
        questions = []
        for chat in conversations(entries, args.turns):
            conversation_id = None
            for question, expected in chat:
                reply = services.engine.respond(conversation_id, question)
                conversation_id = reply.conversation_id
                questions.append(question)
                if expected != "-" and rng.random() < 1 / 3:
                    services.label_turn(reply.turn_id, expected, labelled_by="bench")
        logged_s = time.perf_counter() - started

        started = time.perf_counter()
        outcome = services.replay(ReplayRequest(out_dir=Path(folder) / "out"))
        replay_s = time.perf_counter() - started

        retriever, top_k = services.retriever, services.settings.top_k
        started = time.perf_counter()
        for question in questions:
            retriever.search(question, top_k)
        raw_s = time.perf_counter() - started

        report = outcome.report
        new = report["metrics"]["candidate"]
        print(f"logged {len(questions)} turns in {logged_s:.1f} s ({len(entries)} entries, {MODEL}, extractive)")
        print(f"replay of {report['n']} turns: {replay_s:.1f} s in all ({report['seconds']:.1f} s replaying and "
              f"measuring, {report['n'] / replay_s:.0f} turns/s); {report['changed']} changed; "
              f"candidate p50 {new['p50_ms']:.1f} ms, p95 {new['p95_ms']:.1f} ms per turn")
        print(f"raw Retriever.search of the same questions: {raw_s:.1f} s ({raw_s / len(questions) * 1000:.1f} ms each)")
        print(f"ratio replay / raw retrieval: {replay_s / raw_s:.1f}x")
        print(f"agreement with the log: action {new['action_agreement']}, top entry {new['top_entry_agreement']}; "
              f"labelled {new['labelled']}: hit@1 {new['hit@1']}, resolved {new['resolved_rate']}")


if __name__ == "__main__":
    main()
