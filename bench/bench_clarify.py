"""BANKING77 through the product with and without "Did you mean …?": resolved, wrong answers,
out of scope abstained.

The FAQ: 10 phrasings per intent, the first `--hold-out` intents (sorted) left out of the KB so
that their questions are out of scope (bench/banking77.py). Measured on the full test split with
`chatbot eval`'s metrics (chatbot.evaluation.run), the engine's own decision (retrieval with
head and BM25, the calibrated band), for two calibrations:

  KB only           leave-one-out / k-fold pairs of the FAQ's phrasings (what a new KB has)
  KB + labels       plus "staff-labelled turns": the train split's other questions (in scope)
                    and the held-out intents' train questions (out of scope), never the test split

    python bench/bench_clarify.py [--hold-out 10] [--target 0.05] [--work /tmp/bench-clarify]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, _entry_id, build  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

KEYS = ("resolved_rate", "wrong_answer_rate", "clarify_rate", "answered_accuracy", "abstain_recall",
        "out_of_scope_clarify_rate", "hit@1", "hit@k")


def labelled_turns(data: Path, phrasings: int, hold_out: int) -> list[tuple[str, str | None]]:
    """The train split's questions that are not in the FAQ, as staff-labelled turns."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(data / "train.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"].strip())
    held = set(sorted(by_intent)[:hold_out])
    turns = []
    for intent, texts in sorted(by_intent.items()):
        unique = list(dict.fromkeys(texts))
        if intent in held:
            turns += [(text, None) for text in unique]
        else:
            turns += [(text, _entry_id(intent)) for text in unique[phrasings:]]
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold-out", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.05, help="wrong-answer target of both decisions")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-clarify"))
    args = parser.parse_args()

    from chatbot.engine import ChatEngine
    from chatbot.evaluation.run import run_evaluation
    from chatbot.services import build_services
    from chatbot.settings import Settings

    kb_csv, test_path = build(DATA, args.work / "data", hold_out=args.hold_out)
    settings = Settings(home=args.work / "home", generator="extractive", target_wrong_rate=args.target,
                        clarify_target_wrong_rate=args.target)
    services = build_services(settings)
    if services.index_store.read_manifest() is None:
        services.import_files([kb_csv])
    labels = labelled_turns(DATA, 10, args.hold_out)
    print(f"{len(labels)} labelled turns ({sum(e is None for _, e in labels)} out of scope)", flush=True)
    print("| calibration | clarification | " + " | ".join(KEYS) + " | thresholds |")
    print("|---|---|" + "---|" * (len(KEYS) + 1))
    for name, labelled in (("KB only", []), ("KB + labels", labels)):
        inputs = services.calibration_inputs(services.index_store.read_manifest().embedding_model)
        inputs = type(inputs)(**{**inputs.__dict__, "labelled": labelled})
        start = time.perf_counter()
        manifest = services.index_store.update([], [], services.index_store.read_manifest().kb_version,
                                               services.embedder, calibration=inputs)
        services.retriever.refresh()
        calibrated_s = time.perf_counter() - start
        for clarify in (False, True):
            engine = ChatEngine(settings.model_copy(update={"clarify": clarify}), services.retriever,
                                services.generator, services.conversations)
            _, metrics = run_evaluation(engine, test_path, k=3)
            band = engine.band
            print(f"| {name} | {'on' if clarify else 'off'} | "
                  + " | ".join(f"{metrics[key]:.3f}" for key in KEYS)
                  + f" | answer {band.answer:.3f}, clarify {band.clarify:.3f}, margin {band.margin:.2f} |", flush=True)
        print(f"<!-- {name}: calibrated in {calibrated_s:.0f} s; manifest clarify "
              f"{json.dumps(manifest.clarify)} -->", flush=True)


if __name__ == "__main__":
    main()
