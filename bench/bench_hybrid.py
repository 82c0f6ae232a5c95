"""Dense, BM25 and their fusions, top-1 accuracy on the demo knowledge base and on BANKING77.

Data sets (in-scope questions only):
  - demo-en / demo-zh: knowledge_base/demo/shop_faq.jsonl (English and Chinese entries in one
    KB) against testset_en.jsonl / testset_zh.jsonl;
  - demo-codes: the demo questions (en and zh) that name an acronym, brand or code ("UPS", "APO",
    "WELCOME10"), where exact terms should matter;
  - BANKING77: 10 phrasings per intent as the KB (bench/banking77.py), the full test split.

Dense: max cosine over an entry's phrasings (all-MiniLM-L6-v2, multilingual-e5-small).
Lexical: `knowledge_base.retrieval.lexical.LexicalIndex` over phrasings and answers. Fusion:
`knowledge_base.retrieval.fusion` on the top `--depth` candidates of each, as a retriever would see them;
"spread" rows set the weight from the knowledge base (`fusion.dense_spread`), as the product does.
A first table compares BM25 tokenisations (Chinese characters+bigrams vs jieba words, stemming,
stopwords, answers indexed or not).

    python bench/bench_hybrid.py [--depth 20] [--cache /tmp/bench-hybrid-cache]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import re

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, build  # noqa: E402

from knowledge_base.entries import Entry  # noqa: E402
from knowledge_base.retrieval.fusion import (  # noqa: E402
    LEXICAL_WEIGHT_PER_SPREAD,
    dense_spread,
    reciprocal_rank_fusion,
    weighted_fusion,
)
from knowledge_base.retrieval.lexical import LexicalIndex, TokenizerSettings, entry_documents  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "knowledge_base" / "demo"
MODELS = {"MiniLM": "all-MiniLM-L6-v2", "e5-small": "multilingual-e5-small"}
RRF_WEIGHTS = (0.25, 0.5, 1.0)  # weight of the BM25 list; the dense list weighs 1
FUSION_WEIGHTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
SPREAD_FACTORS = (0.25, 0.5, 0.75, 1.0)  # weight = factor x dense_spread of the knowledge base
# An acronym, brand or code written in capitals or with digits ("UPS", "APO", "WELCOME10").
_EXACT_TERM = re.compile(r"(?<![A-Za-z])[A-Z][A-Z0-9]+(?![a-z])")


@dataclass
class Dataset:
    name: str
    entries: list[Entry]
    queries: list[str]
    expected: list[str]


def demo_sets() -> list[Dataset]:
    fields = ("id", "question", "answer", "alternates", "category", "language", "tags", "url")
    entries = [Entry(**{k: row.get(k) or ([] if k in ("alternates", "tags") else "") for k in fields})
               for row in map(json.loads, (DEMO / "shop_faq.jsonl").read_text().splitlines())]
    sets = []
    for lang in ("en", "zh"):
        rows = [json.loads(line) for line in (DEMO / f"testset_{lang}.jsonl").read_text().splitlines()]
        rows = [r for r in rows if r["expected_id"] is not None]
        sets.append(Dataset(f"demo-{lang}", entries, [r["query"] for r in rows], [r["expected_id"] for r in rows]))
    codes = [(q, e) for d in sets for q, e in zip(d.queries, d.expected) if _EXACT_TERM.search(q)]
    sets.append(Dataset("demo-codes", entries, [q for q, _ in codes], [e for _, e in codes]))
    return sets


def banking77_set(work: Path) -> Dataset:
    kb_path, test_path = build(DATA, work / "banking77")
    with open(kb_path, newline="", encoding="utf-8") as handle:
        entries = [Entry(r["id"], r["question"], r["answer"], [a for a in r["alternates"].split("|") if a])
                   for r in csv.DictReader(handle)]
    rows = [json.loads(line) for line in test_path.read_text().splitlines()]
    return Dataset("BANKING77", entries, [r["query"] for r in rows], [r["expected_id"] for r in rows])


def embed(model: str, texts: list[str], cache: Path) -> np.ndarray:
    """Unit vectors for `texts`, cached on disk by model and texts (e5 is slow on 2 cores)."""
    key = hashlib.sha256((model + "\0" + "\0".join(texts)).encode()).hexdigest()[:24]
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    from knowledge_base.embedding.embedder import Embedder

    embedder = Embedder(model, device="cpu", models_dir=Path("/tmp/e5models"))
    vectors = embedder.encode(texts)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def dense_candidates(data: Dataset, model: str, depth: int, cache: Path) -> tuple[list[dict[str, float]], float]:
    """Per query: the `depth` best entries by max cosine over their phrasings; and the KB's
    `dense_spread`."""
    owners = [(i, text) for i, e in enumerate(data.entries) for text in e.phrasings]
    phrasing_vectors = embed(model, [t for _, t in owners], cache)
    spread = dense_spread(phrasing_vectors, [data.entries[i].id for i, _ in owners])
    query_vectors = embed(model, data.queries, cache)
    starts = np.flatnonzero(np.r_[True, np.diff([i for i, _ in owners]) != 0])  # owners are grouped
    out = []
    for row in query_vectors @ phrasing_vectors.T:
        per_entry = np.maximum.reduceat(row, starts)
        top = np.argsort(-per_entry, kind="stable")[:depth]
        out.append({data.entries[i].id: float(per_entry[i]) for i in top})
    return out, spread


def lexical_candidates(data: Dataset, depth: int, settings: TokenizerSettings | None = None,
                       answers: bool = True) -> list[dict[str, float]]:
    index = LexicalIndex(settings).build(entry_documents(data.entries, answers=answers))
    return [dict(index.search(q, depth)) for q in data.queries]


def top1(rankings: list[list[str]], expected: list[str]) -> float:
    return sum(bool(r) and r[0] == e for r, e in zip(rankings, expected)) / len(expected)


def methods(dense: list[dict[str, float]], lexical: list[dict[str, float]],
            spread: float) -> dict[str, list[list[str]]]:
    """Rankings (ids, best first) per method, for one data set and one dense model."""
    out = {"dense": [list(d) for d in dense]}
    for factor in SPREAD_FACTORS:
        mark = " (default)" if factor == LEXICAL_WEIGHT_PER_SPREAD else ""
        out[f"dense + {factor} spread x BM25/max{mark}"] = [
            [i for i, _ in weighted_fusion(d, x, factor * spread)] for d, x in zip(dense, lexical)]
    for w in RRF_WEIGHTS:
        out[f"RRF, BM25 weight {w}"] = [[i for i, _ in reciprocal_rank_fusion([list(d), list(x)], [1.0, w])]
                                        for d, x in zip(dense, lexical)]
    for w in FUSION_WEIGHTS:
        out[f"dense + {w} x BM25/max"] = [[i for i, _ in weighted_fusion(d, x, w)] for d, x in zip(dense, lexical)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=20, help="candidates taken from each retriever")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "bench-hybrid-cache")
    args = parser.parse_args()

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    sets = [*demo_sets(), banking77_set(work)]
    names = [d.name for d in sets]

    # -- BM25 tokenisation ----------------------------------------------------------------------
    variants = {
        "chars+bigrams, stem, stopwords (default)": (TokenizerSettings(), True),
        "  same, phrasings only (no answers)": (TokenizerSettings(), False),
        "  Chinese as jieba words": (TokenizerSettings(chinese="jieba"), True),
        "  no stemming": (TokenizerSettings(stem=False), True),
        "  no stopwords": (TokenizerSettings(stopwords=False), True),
    }
    print(f"BM25 alone, top-1 ({', '.join(f'{d.name} n={len(d.queries)}' for d in sets)})")
    print(f"{'tokenisation':<50}" + "".join(f"{n:>11}" for n in names))
    lexical = {}
    for label, (settings, answers) in variants.items():
        scores = []
        for d in sets:
            cands = lexical_candidates(d, args.depth, settings, answers)
            if label.endswith("(default)"):
                lexical[d.name] = cands
            scores.append(top1([list(c) for c in cands], d.expected))
        print(f"{label:<50}" + "".join(f"{s:>11.3f}" for s in scores))

    # -- dense, BM25, fusions ------------------------------------------------------------------
    table: dict[str, dict[str, float]] = {"BM25 alone": {d.name: top1([list(c) for c in lexical[d.name]], d.expected)
                                                         for d in sets}}
    spreads = []
    for short, model in MODELS.items():
        for d in sets:
            dense, spread = dense_candidates(d, model, args.depth, args.cache)
            spreads.append(f"{short} {d.name} {spread:.3f}")
            for method, rankings in methods(dense, lexical[d.name], spread).items():
                table.setdefault(f"{short}: {method}", {})[d.name] = top1(rankings, d.expected)
    print(f"\nDense and fused, top-1 (candidates: top {args.depth} of each; RRF k=60)")
    print(f"{'method':<50}" + "".join(f"{n:>11}" for n in names))
    for method, row in table.items():
        print(f"{method:<50}" + "".join(f"{row[n]:>11.3f}" for n in names))
    print(f"\ndense_spread (median leave-one-out top-1 minus top-10 cosine): {'; '.join(spreads)}")
    print(f"({time.perf_counter() - started:.0f} s; embeddings cached in {args.cache})")


if __name__ == "__main__":
    main()
