"""Does tuning the embedder on the knowledge base beat few-shot intent classifiers? Measured.

BANKING77 (10 phrasings per intent as the FAQ, the full test split), top-1 of the retriever's
score (max cosine over an entry's phrasings) for:
  (a) all-MiniLM-L6-v2 as shipped, (b) tuned on the phrasings (knowledge_base.embedding.tuning),
  (c) tuned + the logistic-regression head, ranked by the combined score;
with --e5, the same for multilingual-e5-small and the MiniLM + e5 ensemble (mean of scores).
Out of scope: 10 intents held out of the KB (their test questions must be abstained on); the
tuned model's threshold is calibrated on the phrasings at quantiles 0.01/0.02/0.05; reported are
the share of out-of-scope questions abstained on and of in-scope ones answered correctly.

Tuned models are cached under --work (keyed by model, KB and recipe); --retrain ignores them.

    python bench/bench_tuning.py [--e5] [--epochs 3] [--work /tmp/bench-tuning]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, build  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUANTILES = (0.01, 0.02, 0.05)
ALPHA = 0.5  # combine_scores weight of the cosine (swept with --sweep)


def load(work: Path, hold_out: int) -> tuple[list, list[str], list[str | None]]:
    from knowledge_base.importers.readers import read_file

    kb_csv, test_path = build(DATA, work / f"banking77-holdout{hold_out}", hold_out=hold_out)
    entries = read_file(kb_csv).entries
    rows = [json.loads(line) for line in test_path.read_text().splitlines()]
    return entries, [r["query"] for r in rows], [r["expected_id"] for r in rows]


_ENCODED: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}


def encode(model_path: str, texts: list[str]) -> np.ndarray:
    from knowledge_base.embedding.embedder import Embedder

    key = (model_path, tuple(texts))  # the test questions are shared by both KBs
    if key not in _ENCODED:
        _ENCODED[key] = Embedder(model_path, device="cpu").encode(texts)
    return _ENCODED[key]


def tuned(base_name: str, base_path: str, entries: list, work: Path, args: argparse.Namespace,
          tag: str) -> tuple[str, float]:
    """The tuned model's folder and its training seconds (cached unless --retrain)."""
    from knowledge_base.embedding.tuning import TUNING_FILE, data_hash, tune_embedder

    freeze = base_name != "all-MiniLM-L6-v2"  # e5: 96M of 118M parameters are the vocabulary
    out = work / "models" / f"{base_name}-{tag}-e{args.epochs}-lr{args.lr}-s{args.seed}"
    info = out / TUNING_FILE
    if not args.retrain and info.exists() and json.loads(info.read_text())["data_hash"] == data_hash(entries):
        return str(out), json.loads(info.read_text())["seconds"]
    report = tune_embedder(base_path, entries, out, epochs=args.epochs, learning_rate=args.lr,
                           seed=args.seed, progress=args.progress, device="cpu",
                           freeze_word_embeddings=freeze)
    return str(out), report.seconds


class Scored:
    """Per-entry scores of the test queries under one embedding: max cosine and the head's probs."""

    def __init__(self, phrasing_vectors: np.ndarray, query_vectors: np.ndarray, ids: list[str]) -> None:
        from knowledge_base.retrieval.entry_head import entry_max_cosine, fit_entry_head

        self.ids, self.phrasing_vectors, self.query_vectors = ids, phrasing_vectors, query_vectors
        head = fit_entry_head(phrasing_vectors, ids)
        self.probs, self.classes = head.probabilities(query_vectors), np.array(head.classes)
        self.cosine = entry_max_cosine(query_vectors, phrasing_vectors, ids, self.classes)

    @classmethod
    def of_model(cls, model_path: str, entries: list, queries: list[str]) -> "Scored":
        texts = [t for e in entries for t in e.phrasings]
        return cls(encode(model_path, texts), encode(model_path, queries), [e.id for e in entries for _ in e.phrasings])

    @classmethod
    def ensemble(cls, *parts: "Scored") -> "Scored":
        """Concatenated unit vectors / sqrt(k): one unit vector whose inner products are the mean
        of the models' cosines, so an index, the head and the calibration work unchanged."""
        join = lambda arrays: np.hstack(arrays) / np.sqrt(len(arrays))  # noqa: E731
        return cls(join([p.phrasing_vectors for p in parts]), join([p.query_vectors for p in parts]), parts[0].ids)


def top1(scores: np.ndarray, classes: np.ndarray, expected: list[str | None]) -> float:
    predicted = classes[scores.argmax(axis=1)]
    inscope = [i for i, e in enumerate(expected) if e is not None]
    return float(np.mean([predicted[i] == expected[i] for i in inscope]))


def out_of_scope(s: Scored, ranking: np.ndarray, expected: list[str | None]) -> dict[float, tuple[float, float]]:
    """quantile → (share of out-of-scope abstained, share of in-scope answered correctly).

    Rank by `ranking`; answer when the top entry's max cosine clears the calibrated threshold.
    """
    from knowledge_base.retrieval.calibration import calibrate_threshold

    best = ranking.argmax(axis=1)
    top_cosine = s.cosine[np.arange(len(best)), best]
    predicted = s.classes[best]
    oos = np.array([e is None for e in expected])
    right = np.array([e is not None and p == e for p, e in zip(predicted, expected)])
    out = {}
    for q in QUANTILES:
        answered = top_cosine >= calibrate_threshold(s.phrasing_vectors, s.ids, q)
        out[q] = (float((~answered[oos]).mean()), float((answered & right)[~oos].mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-tuning"))
    parser.add_argument("--e5", action="store_true", help="also multilingual-e5-small and the ensemble")
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/e5models"),
                        help="where multilingual-e5-small is converted (once)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--skip-oos", action="store_true", help="skip the out-of-scope models (one tuning each)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also print top-1 for several alphas")
    args = parser.parse_args()

    from knowledge_base.embedding.embedder import resolve_model_path
    from knowledge_base.retrieval.entry_head import blend

    def combine_scores(cosine: np.ndarray, probs: np.ndarray, alpha: float) -> np.ndarray:
        return blend(cosine, probs, weight=1.0 - alpha)  # alpha: the cosine's share

    bases = {"all-MiniLM-L6-v2": resolve_model_path("all-MiniLM-L6-v2")}
    if args.e5:
        bases["multilingual-e5-small"] = resolve_model_path("multilingual-e5-small", models_dir=args.models_dir)
    entries, queries, expected = load(args.work, 0)
    oos_entries, oos_queries, oos_expected = load(args.work, 10)

    rows: list[tuple[str, float, str]] = []  # (method, top-1, out-of-scope cell)
    seconds: dict[str, float] = {}
    full: dict[str, Scored] = {}
    held: dict[str, Scored] = {}

    def report(label: str, s: Scored, h: Scored | None) -> None:
        rows.append((label, top1(s.cosine, s.classes, expected), _oos_cell(h, h.cosine, oos_expected) if h else ""))
        mixed = combine_scores(s.cosine, s.probs, ALPHA)
        held_mixed = combine_scores(h.cosine, h.probs, ALPHA) if h else None
        rows.append((f"{label} + head", top1(mixed, s.classes, expected),
                     _oos_cell(h, held_mixed, oos_expected) if h else ""))
        if args.sweep:
            rows.append(("  head alone / alpha 0.25 / 0.75", top1(s.probs, s.classes, expected), " / ".join(
                f"{top1(combine_scores(s.cosine, s.probs, a), s.classes, expected):.3f}" for a in (0.25, 0.75))))

    for name, path in bases.items():
        start = time.perf_counter()
        report(f"{name}, untuned", Scored.of_model(path, entries, queries),
               None if args.skip_oos else Scored.of_model(path, oos_entries, oos_queries))
        model, seconds[name] = tuned(name, path, entries, args.work, args, "full")
        full[name] = Scored.of_model(model, entries, queries)
        h = None
        if not args.skip_oos:
            oos_model, seconds[f"{name} (67-intent KB)"] = tuned(name, path, oos_entries, args.work, args, "holdout10")
            held[name] = h = Scored.of_model(oos_model, oos_entries, oos_queries)
        report(f"{name}, tuned", full[name], h)
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if len(full) == 2:
        report("ensemble of both tuned", Scored.ensemble(*full.values()),
               Scored.ensemble(*held.values()) if len(held) == 2 else None)

    print(f"BANKING77: {len(entries)} entries, {sum(len(e.phrasings) for e in entries)} phrasings, "
          f"{len(queries)} test questions; out of scope: 10 intents held out; {os.cpu_count()} CPUs")
    print(f"{'method':<48}{'top-1':>7}   out of scope: abstained / answered right at q=" +
          "/".join(str(q) for q in QUANTILES))
    for method, score, cell in rows:
        print(f"{method:<48}{score:>7.3f}   {cell}")
    print("training (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) +
          f"; recipe: {args.epochs} epochs, lr {args.lr}, seed {args.seed}")


def _oos_cell(s: Scored, ranking: np.ndarray, expected: list[str | None]) -> str:
    """"abstained/answered right" at each quantile."""
    return "  ".join(f"{a:.2f}/{r:.2f}" for a, r in out_of_scope(s, ranking, expected).values())


if __name__ == "__main__":
    main()
