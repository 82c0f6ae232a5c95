"""Does the calibrated threshold hold its target wrong-answer rate on new questions? Measured.

BANKING77 as the FAQ (10 phrasings per intent) with `--hold-out` intents left out of the KB, so
their test questions are out of scope. The test split is cut in two at random (seeded): one
half plays the logged turns staff labelled, the other half the new questions measured on. For
each rule the index is rebuilt, its manifest's expected rates are printed beside the rates the
product's retriever (dense + BM25 fusion) gets on the new half:

  quantile         the 5 % quantile of the phrasings' sibling scores (no target)
  target, no labels  leave-one-out pairs only, the quantile as floor
  target + labels  leave-one-out pairs and the labelled half (in scope and out of scope)

    python bench/bench_calibration.py [--target 0.05] [--hold-out 10] [--work /tmp/bench-calibration]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, build  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def measure(retriever, threshold: float, cases: list[tuple[str, str | None]],
            lexical_weight: float | None = None) -> dict[str, float]:
    """Answer rate, wrong-answer rate among the answered, and in-scope answered correctly
    (`lexical_weight` 0: dense only, as the calibration scores; None: the product's fusion)."""
    answered = wrong = right_in_scope = 0
    for query, expected in cases:
        hits = retriever.search(query, k=1, lexical_weight=lexical_weight)
        if not hits or hits[0].score < threshold:
            continue
        answered += 1
        if hits[0].entry.id == expected:
            right_in_scope += 1
        else:
            wrong += 1
    in_scope = sum(1 for _, expected in cases if expected is not None)
    return {"answer_rate": answered / len(cases), "wrong_rate": wrong / answered if answered else 0.0,
            "answered_correctly": right_in_scope / in_scope if in_scope else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--hold-out", type=int, default=10)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-calibration"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from knowledge_base.retrieval.calibration import CalibrationInputs
    from knowledge_base.embedding.embedder import Embedder
    from knowledge_base.importers.readers import read_file
    from knowledge_base.index.writer import IndexStore
    from knowledge_base.retrieval.retriever import Retriever

    kb_csv, test_path = build(DATA, args.work / f"banking77-holdout{args.hold_out}", hold_out=args.hold_out)
    entries = read_file(kb_csv).entries
    cases = [(r["query"], r["expected_id"]) for r in map(json.loads, test_path.read_text().splitlines())]
    random.Random(args.seed).shuffle(cases)
    labelled, new = cases[: len(cases) // 2], cases[len(cases) // 2:]
    embedder = Embedder(args.model, device="cpu")
    store = IndexStore(args.work / "index")
    retriever = Retriever(store, embedder)
    print(f"{len(entries)} entries, {len(labelled)} labelled turns "
          f"({sum(e is None for _, e in labelled)} out of scope), {len(new)} new questions "
          f"({sum(e is None for _, e in new)} out of scope), target {args.target}")
    rules = {"quantile": CalibrationInputs(None), "target, no labels": CalibrationInputs(args.target),
             "target + labels": CalibrationInputs(args.target, labelled)}
    print("| rule | threshold | expected answer / wrong | new: answer rate | new: wrong rate | "
          "new: in scope answered correctly | new, dense only: answer / wrong |")
    print("|---|---|---|---|---|---|---|")
    for name, inputs in rules.items():
        manifest = store.rebuild(entries, 1, embedder, calibration=inputs)
        retriever.refresh()
        record, got = manifest.calibration, measure(retriever, manifest.answer_threshold, new)
        dense = measure(retriever, manifest.answer_threshold, new, lexical_weight=0.0)
        print(f"| {name} ({record['rule']}) | {manifest.answer_threshold:.3f} | "
              f"{record['answer_rate']:.3f} / {record['wrong_rate']:.3f} | {got['answer_rate']:.3f} | "
              f"{got['wrong_rate']:.3f} | {got['answered_correctly']:.3f} | "
              f"{dense['answer_rate']:.3f} / {dense['wrong_rate']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
