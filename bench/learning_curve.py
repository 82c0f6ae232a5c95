"""The learning curve (issue 15, item 5): weeks of use on BANKING77, simulated through the product.

Start: the FAQ has 10 phrasings per intent, the first `--hold-out` intents (sorted) left out of
it, so that their questions are out of scope (bench/banking77.py). The train split's other
questions (in scope and out) arrive as customer turns, shuffled, in `--rounds` rounds. Each turn
goes through `ChatEngine.respond` and is logged; a customer the bot asks "Did you mean …?" picks
their intent when it is among the options (a free label, which the product learns as a phrasing),
else "none of these".

After each round a simulated staff member works the unanswered queue through the services the
console calls: `learn_from_labels` (the customers' choices), `unanswered_groups`, then
`promote_group` for the `--promote` most asked groups of two questions or more whose majority
intent is in scope (into that intent's entry, leaving out the questions of other intents, as
staff untick them; groups of out-of-scope questions are passed over), then `label_turns` with at most `--labels-per-intent /
--rounds` queue turns per intent (their true intent, or out of scope). Measured after each round
on the whole test split: top-1, resolved_rate, out-of-scope abstention (`chatbot eval`'s metrics).

    python bench/learning_curve.py [--rounds 4] [--promote 20] [--labels-per-intent 20] \
        [--work /tmp/learning-curve] [--plot docs/learning_curve.png]

The embedder's vectors are cached by text for the run (the model never changes here, so a
question embedded twice gets the same vector): the bench's CPU time goes to what it measures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, _entry_id, build  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
THUMBS_DOWN_SHARE = 0.5  # of wrong answers, the share whose customer says so
UNKNOWN = ("?", "?")  # a question the simulation did not send (the guard changed its text)
KEYS = ("hit@1", "resolved_rate", "abstain_recall", "wrong_answer_rate", "clarify_rate", "answered_accuracy")


def cache_vectors(embedder, texts: list[str], path: Path) -> None:
    """Remember `embedder.encode`'s vector of every text for the rest of the run, `texts`
    embedded first in large batches (kept in `path` for the next run): one question at a time
    costs several times as much on a loaded CPU, and the bench measures learning, not that."""
    encode, known = embedder.encode, {}
    texts = list(dict.fromkeys(texts))
    if path.exists():
        stored = np.load(path)
        known.update(zip(stored["texts"].tolist(), stored["vectors"]))
    missing = [t for t in texts if t not in known]
    for start in range(0, len(missing), 512):
        known.update(zip(missing[start:start + 512], encode(missing[start:start + 512])))
        print(f"embedded {min(start + 512, len(missing))}/{len(missing)} questions", flush=True)
    if missing:
        np.savez(path, texts=np.array(list(known)), vectors=np.stack(list(known.values())))

    def cached(texts, **options):
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, encode(missing, **options)))
        return np.stack([known[t] for t in texts]) if texts else encode(texts, **options)

    embedder.encode = cached


def arrivals(data: Path, phrasings: int, hold_out: int) -> list[tuple[str, str | None, str]]:
    """The train split's questions that are not in the FAQ: (text, entry id or None for out of
    scope, intent)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(data / "train.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"].strip())
    held = set(sorted(by_intent)[:hold_out])
    turns = []
    for intent, texts in sorted(by_intent.items()):
        unique = list(dict.fromkeys(texts))
        if intent in held:
            turns += [(text, None, intent) for text in unique]
        else:
            turns += [(text, _entry_id(intent), intent) for text in unique[phrasings:]]
    return turns


def key(text: str) -> str:
    return " ".join(text.split()).casefold()


def customers(services, turns: list[tuple[str, str | None, str]], rng: random.Random) -> Counter:
    """Each question as a new conversation's first turn; a clarification answered by choosing;
    every other wrong answer given a thumbs down (the customer's verdict, stored with the turn)."""
    outcome: Counter = Counter()
    for text, truth, _ in turns:
        reply = services.engine.respond(None, text)
        outcome[reply.kind] += 1
        wrong = reply.kind == "answer" and reply.citations and reply.citations[0].entry_id != truth
        if wrong and rng.random() < THUMBS_DOWN_SHARE:
            services.conversations.feedback.give(reply.turn_id, "down")
            outcome["thumbs down"] += 1
        if reply.action == "clarify":
            options = [o.entry_id for o in reply.options]
            choice = truth if truth in options else "none"
            outcome["chose " + ("theirs" if choice != "none" else "none")] += 1
            services.engine.respond(reply.conversation_id, "", choice=choice)
    return outcome


def staff(services, truth_of: dict[str, tuple[str | None, str]], promote: int, labels_per_intent: int,
          labelled: Counter) -> dict:
    """One session on the queue (see the module's docstring); what it did and cost."""
    from chatbot.staff.queue_services import TurnLabelRequest

    done: dict = {"promotions": 0, "promoted_questions": 0, "labels": 0}
    start = time.perf_counter()
    done["learned_choices"] = services.learn_from_labels()
    done["learn_s"] = time.perf_counter() - start
    start = time.perf_counter()
    groups = services.unanswered_groups()
    done["groups"], done["queue_turns"] = len(groups), sum(len(g.turns) for g in groups)
    done["group_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for group in groups:
        if done["promotions"] == promote:
            break
        intents = Counter(truth_of.get(key(q), UNKNOWN)[0] for q in group.questions)
        intent, _ = intents.most_common(1)[0]
        if intent is None or intent == UNKNOWN[0] or group.count < 2:
            continue  # out of scope (staff make no entry of it), or asked once: not a group to promote
        mine = [q for q in group.questions if truth_of.get(key(q), UNKNOWN)[0] == intent]
        promoted = services.promote_group(group.group, entry_id=intent, questions=mine, author="staff")
        done["promotions"] += 1
        done["promoted_questions"] += promoted.labelled_turns
    done["promote_s"] = time.perf_counter() - start
    start = time.perf_counter()
    quota: Counter = Counter()
    requests = []
    for group in services.unanswered_groups():
        for turn in group.turns:
            expected, intent = truth_of.get(key(turn.text), UNKNOWN)
            if intent == UNKNOWN[1] or quota[intent] >= labels_per_intent:
                continue
            quota[intent] += 1
            requests.append(TurnLabelRequest(turn.turn_id, expected))
    if requests:
        services.label_turns(requests, "staff")
    labelled.update(quota)
    done["labels"] = len(requests)
    done["label_s"] = time.perf_counter() - start
    return done


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p["customer_turns"] for p in points]
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for name, label, style in (("hit@1", "top-1", "o-"), ("resolved_rate", "resolved", "s-"),
                               ("abstain_recall", "out of scope abstained", "^-")):
        ax.plot(x, [p[name] for p in points], style, label=label)
    ax.axhline(0.92, color="#1f77b4", linestyle=":", linewidth=1, label="target top-1 0.92")
    ax.axhline(0.97, color="#ff7f0e", linestyle=":", linewidth=1, label="target resolved 0.97")
    lowest = min(p[k] for p in points for k in ("hit@1", "resolved_rate", "abstain_recall"))
    bottom = min(0.4, lowest - 0.12)
    for p in points[1:]:  # the staff effort so far, along the bottom
        ax.annotate(f"{p['labels_max_per_intent']} labels/intent\n{p['promotions']} promotions",
                    (p["customer_turns"], bottom + 0.015), ha="center", fontsize=7, color="#555")
    ax.set_xlabel("customer questions so far (BANKING77 train split)")
    ax.set_ylabel("share of the test split")
    ax.set_title("Learning from the unanswered queue: BANKING77, 10 phrasings per intent to start")
    ax.set_ylim(bottom, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--hold-out", type=int, default=10)
    parser.add_argument("--promote", type=int, default=20, help="groups promoted per round at most")
    parser.add_argument("--labels-per-intent", type=int, default=20, help="staff labels per intent, all rounds")
    parser.add_argument("--customers", type=int, default=0, help="use only this many train questions (0: all)")
    parser.add_argument("--test-limit", type=int, default=0, help="a sample of the test split (0: all of it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/learning-curve"))
    parser.add_argument("--plot", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "learning_curve.png")
    parser.add_argument("--replot", type=Path, help="only draw the plot of a run's learning_curve.json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot)
        return

    from chatbot.evaluation.run import run_evaluation
    from chatbot.services import build_services
    from chatbot.settings import Settings
    from chatbot.stages.guard import check_message

    kb_csv, test_path = build(DATA, args.work / "data", hold_out=args.hold_out)
    if args.test_limit:
        lines = test_path.read_text().splitlines()
        random.Random(args.seed).shuffle(lines)
        test_path.write_text("\n".join(lines[:args.test_limit]) + "\n")
    services = build_services(Settings(home=args.work / "home", generator="extractive"))
    if services.index_store.read_manifest() is not None:
        sys.exit(f"{args.work / 'home'} holds a run already: remove it or give another --work")
    arriving = arrivals(DATA, 10, args.hold_out)
    random.Random(args.seed).shuffle(arriving)
    if args.customers:
        arriving = arriving[:args.customers]
    tests = [json.loads(line)["query"] for line in test_path.read_text().splitlines() if line.strip()]
    phrasings = [p for row in csv.DictReader(kb_csv.open(encoding="utf-8"))
                 for p in [row["question"], *row["alternates"].split("|")] if p]
    asked = [t for t, _, _ in arriving] + tests
    asked += [check_message(t, services.settings.max_message_chars).text for t in asked]  # as retrieval sees them
    cache_vectors(services.embedder, asked + phrasings, args.work.parent / "b77-vectors.npz")
    services.import_files([kb_csv])
    truth_of = {key(text): (truth, intent) for text, truth, intent in arriving}
    per_round = -(-len(arriving) // args.rounds)
    rng = random.Random(args.seed)
    labelled: Counter = Counter()
    points, seen, totals = [], 0, Counter()

    def measure(extra: dict) -> None:
        start = time.perf_counter()
        _, metrics = run_evaluation(services.engine, test_path, k=3)
        point = {**{k: round(metrics[k], 4) for k in KEYS}, "customer_turns": seen, **extra,
                 "labels": sum(labelled.values()), "labels_max_per_intent": max(labelled.values(), default=0),
                 "promotions": totals["promotions"], "promoted_questions": totals["promoted_questions"],
                 "learned_choices": totals["learned_choices"],
                 "phrasings": services.index_store.read_manifest().phrasing_count, "eval_s": round(time.perf_counter() - start)}
        points.append(point)
        print(json.dumps(point), flush=True)

    measure({"round": 0})
    for number in range(1, args.rounds + 1):
        chunk = arriving[(number - 1) * per_round:number * per_round]
        start = time.perf_counter()
        outcome = customers(services, chunk, rng)
        seen += len(chunk)
        customers_s = time.perf_counter() - start
        done = staff(services, truth_of, args.promote, args.labels_per_intent // args.rounds, labelled)
        totals.update({k: done[k] for k in ("promotions", "promoted_questions", "learned_choices")})
        measure({"round": number, "outcome": dict(outcome), "customers_s": round(customers_s),
                 **{k: round(v, 1) if isinstance(v, float) else v for k, v in done.items()}})
    (args.work / "learning_curve.json").write_text(json.dumps(points, indent=1))
    print("\n| round | customer questions | top-1 | resolved | out of scope abstained | wrong answers "
          "| staff labels (max per intent) | promotions (questions) | choices learned | phrasings |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in points:
        print(f"| {p['round']} | {p['customer_turns']} | {p['hit@1']:.3f} | {p['resolved_rate']:.3f} | "
              f"{p['abstain_recall']:.3f} | {p['wrong_answer_rate']:.3f} | {p['labels']} ({p['labels_max_per_intent']}) | "
              f"{p['promotions']} ({p['promoted_questions']}) | {p['learned_choices']} | {p['phrasings']} |")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(points, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
