"""Retrieval and indexing speed against their raw baselines, measured in one run.

Prints, on the BANKING77 knowledge base (10 phrasings per intent) and its test questions:
  - search: the engine's retriever vs a raw `faiss` search on the same query vectors;
  - embed+search: `Retriever.search` vs raw `SentenceTransformer.encode` + raw faiss;
  - indexing: `IndexStore.rebuild` (embed, build, write snapshot) vs raw `encode` of the same texts;
  - the peak RSS of a serving process with the default models loaded (a child process that
    builds the services, warms up and answers a few questions).

    python bench/bench_retrieval.py [--queries 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from banking77 import DATA, build  # noqa: E402


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of `repeat` runs, in seconds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def per_query_ms(fn, queries: list, repeat: int = 3) -> list[float]:
    samples = []
    for _ in range(repeat):
        for query in queries:
            start = time.perf_counter()
            fn(query)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


SERVING_PROBE = """
import json, resource, sys
from chatbot.settings import Settings
from chatbot.services import build_services
services = build_services(Settings(home=sys.argv[1], generator=sys.argv[2]))
services.warm_up()
for q in ["Where is my card?", "How do I top up?", "My transfer failed"]:
    services.engine.respond(None, q)
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def serving_peak_rss(home: Path, generator: str) -> float:
    out = subprocess.run([sys.executable, "-c", SERVING_PROBE, str(home), generator],
                         check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--generator", default="local", help="generator loaded in the serving-RSS probe")
    args = parser.parse_args()

    import faiss

    from chatbot.services import build_services
    from chatbot.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    kb_csv, test_path = build(DATA, work / "data")
    queries = [json.loads(line)["query"] for line in test_path.read_text().splitlines()][: args.queries]
    services = build_services(Settings(home=work / "home", generator="extractive"))
    services.import_files([kb_csv])
    embedder, store = services.embedder, services.index_store
    entries = services.knowledge_base.list_entries()
    texts = [t for e in entries for t in e.phrasings]
    model = embedder.model

    # Indexing: the product's rebuild vs raw encode of the same phrasings (best of 3).
    raw_encode = timed(lambda: model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True), 3)
    rebuild = timed(lambda: store.rebuild(entries, 1, embedder), 3)

    retriever = services.retriever
    retriever.snapshot()
    raw_index = faiss.IndexFlatIP(embedder.dimension)  # the baseline: the same vectors, no product code
    raw_index.add(np.ascontiguousarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32))
    query_vectors = embedder.encode(queries)
    k = 5
    fetch = k * 8

    raw_search = per_query_ms(lambda v: raw_index.search(v.reshape(1, -1), fetch), list(query_vectors))
    engine_search = per_query_ms(lambda v: retriever.search_vector(v, k), list(query_vectors))
    raw_full = per_query_ms(lambda q: raw_index.search(model.encode([q], normalize_embeddings=True), fetch), queries, 1)
    engine_full = per_query_ms(lambda q: retriever.search(q, k), queries, 1)

    rss = serving_peak_rss(work / "home", args.generator)

    med = statistics.median
    rows = [
        ("vector search (per query, ms, p50)", med(engine_search), med(raw_search)),
        ("embed + search (per query, ms, p50)", med(engine_full), med(raw_full)),
        (f"index {len(texts)} phrasings (s)", rebuild, raw_encode),
    ]
    print(f"BANKING77 KB: {len(entries)} entries, {len(texts)} phrasings; {len(queries)} queries; "
          f"{os.cpu_count()} CPUs; torch threads {__import__('torch').get_num_threads()}")
    print(f"{'measure':<40}{'engine':>12}{'raw':>12}{'ratio':>9}")
    for name, engine_value, raw_value in rows:
        print(f"{name:<40}{engine_value:>12.4f}{raw_value:>12.4f}{engine_value / raw_value:>8.2f}x")
    print(f"indexing throughput: engine {len(texts) / rebuild:.0f} phrasings/s, "
          f"raw encode {len(texts) / raw_encode:.0f} sentences/s")
    print(f"peak RSS of a serving process (generator={args.generator}, models loaded): {rss:.0f} MB")


if __name__ == "__main__":
    main()
