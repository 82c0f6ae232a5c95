"""Turn BANKING77 (../shared/data/banking77) into a knowledge base and a test set.

The FAQ has one entry per intent with `--phrasings` training questions (the first is the
question, the rest alternates); the test set is the full test split. With `--hold-out N`, the
first N intents (sorted) stay out of the KB and their test questions become out-of-scope cases.

    python bench/banking77.py --out /tmp/b77
    chatbot kb import /tmp/b77/kb.csv && chatbot eval /tmp/b77/testset.jsonl --json
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def _entry_id(intent: str) -> str:
    # One intent is named "reverted_card_payment?": ids keep to letters, digits, '_' and '-'.
    return re.sub(r"[^A-Za-z0-9_-]", "", intent)


def build(data: Path, out: Path, phrasings: int = 10, hold_out: int = 0) -> tuple[Path, Path]:
    """Write kb.csv and testset.jsonl into `out`; return their paths."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with open(data / "train.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"].strip())
    held = set(sorted(by_intent)[:hold_out])
    out.mkdir(parents=True, exist_ok=True)
    kb_path, test_path = out / "kb.csv", out / "testset.jsonl"
    with open(kb_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "alternates", "answer", "category"])
        for intent, texts in sorted(by_intent.items()):
            if intent in held:
                continue
            chosen = list(dict.fromkeys(texts))[:phrasings]
            alternates = "|".join(t.replace("|", "/") for t in chosen[1:])
            writer.writerow([_entry_id(intent), chosen[0], alternates, f"Answer for {intent.replace('_', ' ')}.", "banking"])
    with open(data / "test.csv", newline="", encoding="utf-8") as handle, \
            open(test_path, "w", encoding="utf-8") as out_handle:
        for row in csv.DictReader(handle):
            expected = None if row["category"] in held else _entry_id(row["category"])
            out_handle.write(json.dumps({"query": row["text"].strip(), "expected_id": expected}) + "\n")
    return kb_path, test_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phrasings", type=int, default=10)
    parser.add_argument("--hold-out", type=int, default=0)
    args = parser.parse_args()
    kb, tests = build(args.data, args.out, args.phrasings, args.hold_out)
    print(f"knowledge base: {kb}\ntest set: {tests}")


if __name__ == "__main__":
    main()
