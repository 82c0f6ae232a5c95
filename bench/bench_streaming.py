"""Time to the first checked sentence against time to the whole answer, with the local model.

The demo knowledge base in a temporary CHATBOT_HOME, the local generator (the shipped SmolLM2 unless
`--model` names another), about twenty English customer questions answered through
`ChatEngine.stream` (retrieve, prompt, generate, each sentence checked as it completes, log).
For each question it records when the first piece of text left the engine and when the whole,
logged reply did; and, in the same run, the same prompt through plain `model.generate` (a model of
its own, greedy, the product's stop rule; `bench_generation.RawGenerate`), the two taking turns
to go first. Before sentence streaming the first text left with the whole answer, so the whole
answer's time is also what the customer waited before.

    python bench/bench_streaming.py [--model smollm2|FOLDER] [--device auto] [--new-tokens 160]
                                    [--models-dir DIR] [--questions 20] [--json FILE]

Prints one row per question and the medians, with the ratios to the raw `generate`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a plain checkout, without installing the project
sys.path.insert(0, str(ROOT / "bench"))

from bench_generation import RawGenerate, add_model_arguments  # noqa: E402

from chatbot.engine import ChatEngine  # noqa: E402
from chatbot.messages import GenerationRequest, Reply  # noqa: E402
from chatbot.services import DEMO_KB, build_services  # noqa: E402
from chatbot.settings import Settings  # noqa: E402

# Customer wording, not the entries' own questions; most entries answer in several sentences.
QUESTIONS = [
    "Where can I see where my parcel is?",
    "I want to cancel the order I placed this morning",
    "Can I send the package to my office instead?",
    "How much is delivery?",
    "Is shipping free if I spend enough?",
    "How many days does standard shipping take?",
    "Do you have next-day delivery?",
    "Can you send my order to Canada?",
    "Which courier will bring my parcel?",
    "How long do I have to send something back?",
    "Do I have to pay for the return label?",
    "When does my money come back after a return?",
    "Can I swap these shoes for a bigger size?",
    "The mug I got was broken, what now?",
    "Can I pay with PayPal?",
    "Why did my card get declined?",
    "Can I split the payment into several parts?",
    "I forgot my password",
    "How do I switch on two-step login?",
    "How do I close my account for good?",
]


def timed_turn(engine: ChatEngine, question: str) -> dict:
    """Seconds to the first piece of text and to the logged reply, the pieces and the reply."""
    started = time.perf_counter()
    first = None
    pieces: list[str] = []
    reply = None
    for event in engine.stream(None, question):
        if isinstance(event, Reply):
            reply = event
        elif event:
            first = first if first is not None else time.perf_counter() - started
            pieces.append(event)
    whole = time.perf_counter() - started
    assert reply is not None and reply.answer == "".join(pieces)
    return {"first": first if first is not None else whole, "whole": whole, "pieces": pieces, "reply": reply}


def request_for(engine: ChatEngine, question: str) -> GenerationRequest | None:
    """The request the engine hands its generator for `question` (None: it abstains)."""
    decision = engine.decide(question)
    if decision.abstained:
        return None
    settings = engine.settings
    return GenerationRequest(decision.checked.text, decision.language, decision.hits, [],
                             settings.max_new_tokens, settings.context_window)


def outcome(reply: Reply) -> str:
    if reply.abstained:
        return "abstained"
    if reply.grounding is not None and reply.grounding.grounded:
        return "generated, all shown"
    return "fell back at the first sentence" if reply.answer == reply.hits[0].entry.answer.strip() \
        else "fell back after checked sentences"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, new_tokens=160)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the questions")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        args.models_dir.mkdir(parents=True, exist_ok=True)
        (home / "models").symlink_to(args.models_dir.resolve(), target_is_directory=True)
        settings = Settings(home=home, generator=args.model, device=args.device, max_new_tokens=args.new_tokens)
        services = build_services(settings)
        services.import_files([DEMO_KB])
        services.warm_up()
        engine = services.engine
        baseline = RawGenerate(engine.generator.model_source(), args.device, args.new_tokens)
        questions = QUESTIONS[: args.questions]
        timed_turn(engine, questions[0])  # warm-up: first-call allocation, lazy initialisation
        baseline.run(request_for(engine, questions[0]))
        rows = []
        for i, question in enumerate(questions):
            request = request_for(engine, question)
            if i % 2:
                turn = timed_turn(engine, question)
                raw = baseline.run(request) if request else None
            else:
                raw = baseline.run(request) if request else None
                turn = timed_turn(engine, question)
            reply = turn["reply"]
            # What the engine did before sentence streaming: the whole (same greedy) answer checked at once.
            whole_check = engine.grounding.check(raw["text"], request.hits, request.language) if raw else None
            rows.append({"question": question, "first_s": turn["first"], "whole_s": turn["whole"],
                         "pieces": len(turn["pieces"]), "outcome": outcome(reply),
                         "raw_first_s": raw["first"] if raw else None, "raw_s": raw["total"] if raw else None,
                         "raw_tokens": raw["tokens"] if raw else None, "answer": reply.answer,
                         "check_ms": reply.timings_ms.get("ground", 0.0), "raw_text": raw["text"] if raw else "",
                         "whole_check_passed": whole_check.grounded if whole_check else None,
                         "replaced": reply.replaced_answer,
                         "reasons": list(reply.grounding.reasons) if reply.grounding else []})
        baseline.close()
    report(rows, engine, args, torch)


def report(rows: list[dict], engine: ChatEngine, args: argparse.Namespace, torch) -> None:
    choice = engine.generator.device_choice
    device = torch.cuda.get_device_name() if choice.is_cuda else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"\nmodel {args.model} on {choice.device} ({choice.dtype_name}), {device}; "
          f"{len(rows)} questions, answers capped at {args.new_tokens} tokens\n")
    print("| question | first piece s | whole s | raw generate s | checks ms | pieces | outcome | whole-answer check |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        raw = f"{r['raw_s']:.2f}" if r["raw_s"] is not None else "-"
        before = {True: "passes", False: "fails", None: "-"}[r["whole_check_passed"]]
        print(f"| {r['question']} | {r['first_s']:.2f} | {r['whole_s']:.2f} | {raw} | {r['check_ms']:.0f} | "
              f"{r['pieces']} | {r['outcome']} | {before} |")
    generated = [r for r in rows if r["raw_s"] is not None]
    several = [r for r in generated if r["pieces"] > 1]
    median = lambda key, rs: statistics.median(r[key] for r in rs)  # noqa: E731
    print()
    for label, subset in (("answered questions", generated), ("answers given in more than one piece", several)):
        if not subset:
            continue
        first, whole, raw = median("first_s", subset), median("whole_s", subset), median("raw_s", subset)
        print(f"{label} ({len(subset)}): median first piece {first:.2f} s, whole answer {whole:.2f} s, "
              f"raw generate {raw:.2f} s (first token {median('raw_first_s', subset):.2f} s); "
              f"first/whole {first / whole:.2f}, first/raw {first / raw:.2f}, whole/raw {whole / raw:.2f}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    before = sum(bool(r["whole_check_passed"]) for r in generated)
    print(f"the whole (same greedy) answer, checked at once as before streaming, passes for {before} of "
          f"{len(generated)}; streamed, all of it was shown for {counts.get('generated, all shown', 0)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
