"""The index at 10k, 100k and 1M phrasings: build, search latency against raw FAISS, recall, memory.

One run, one table. For each size, the product builds a snapshot (`IndexStore.rebuild_from_vectors`:
the index kind the `--index-type` setting picks for that size, calibration, BM25, files) from
vectors already embedded, and then, on BANKING77's test questions:

  - search: `Retriever.search_vector` (k=5, which fetches 40 phrasings) against a raw
    `index.search` for the same 40 on the same loaded index, timed alternately query by query so
    that load from other processes hits both alike; p50 and p95 per query, ratio of the p50s;
  - recall@10 of the snapshot's index against exact inner-product search over the same vectors;
  - index memory: the resident memory a fresh process gains by reading index.faiss into memory,
    over the raw vectors' bytes (n x 384 x 4); serving maps the file instead (shared, paged);
  - full retrieval per query, p50: `ChatEngine.decide` (guard, language detection, follow-up
    rewrite with the previous question as history, query embedding, dense search, BM25, fusion),
    and beside it the query's embedding alone, which is most of it.

Vectors: 10k is BANKING77's training set (real texts, real all-MiniLM-L6-v2 embeddings); 100k and
1M are synthetic phrasings clustered around those embeddings, with texts recombined from their
words (bench/scale_data.py), since embedding 1M texts takes about 30 minutes on this CPU.
Embedding time is reported apart, from the first run (later runs read the vectors from --cache).

`--crossover` instead prints the measurement behind "auto"'s threshold: raw FAISS flat (with one
and with all OpenMP threads) against HNSW single-query latency from 2k to 50k phrasings.
Searches of one query run on one OpenMP thread, in the product (`Snapshot.search`) and in the raw
baseline alike.

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--queries 1000] [--index-type auto]
    python bench/bench_scale.py --crossover
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
from banking77 import DATA  # noqa: E402
from scale_data import load_banking77, real_kb, synthetic_kb  # noqa: E402

FETCH_K = 5  # entries the product asks for; it fetches OVERFETCH times as many phrasings

MEMORY_PROBE = """
import sys, faiss
def rss(): return int(open("/proc/self/statm").read().split()[1]) * __import__("os").sysconf("SC_PAGE_SIZE")
before = rss(); index = faiss.read_index(sys.argv[1]); print(rss() - before)
"""


def index_memory(path: Path) -> int:
    """Bytes of resident memory a fresh process gains by reading `path` (FAISS imported first)."""
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def measure(size: int, data, embedder, args, work: Path) -> dict:
    """Build one knowledge base of `size` phrasings and measure it; returns one table row."""
    import faiss

    from chatbot.engine import ChatEngine
    from chatbot.generators.extractive import ExtractiveGenerator
    from chatbot.messages import ChatMessage
    from chatbot.settings import Settings
    from knowledge_base.entries import Entry
    from knowledge_base.index.writer import IndexStore
    from knowledge_base.retrieval.retriever import OVERFETCH, Retriever

    kb = real_kb(data) if size == len(data.texts) else synthetic_kb(data, size)
    entries = [Entry(entry_id, texts[0], answer, texts[1:], language="en") for entry_id, texts, answer in kb.entries]
    store = IndexStore(work / f"index-{size}", index_type=args.index_type)
    start = time.perf_counter()
    manifest = store.rebuild_from_vectors(entries, kb.vectors, 1, embedder.model_name, progress=True)
    build_s = time.perf_counter() - start
    del entries

    retriever = Retriever(store, embedder)
    start = time.perf_counter()
    snap = retriever.snapshot()
    load_s = time.perf_counter() - start

    queries = data.test_vectors[: args.queries]
    fetch = FETCH_K * OVERFETCH
    product_ms, raw_ms = [], []
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # raw FAISS on one thread too, as the product runs single queries
    raw = lambda vector: snap.index.search(vector.reshape(1, -1), fetch)  # noqa: E731
    product = lambda vector: retriever.search_vector(vector, FETCH_K)  # noqa: E731
    for i, vector in enumerate(queries):
        # Alternate which goes first: the second search of a query finds its graph nodes cached.
        for fn, samples in ((raw, raw_ms), (product, product_ms))[:: 1 if i % 2 else -1]:
            start = time.perf_counter()
            fn(vector)
            samples.append((time.perf_counter() - start) * 1000)
    faiss.omp_set_num_threads(threads)

    exact = faiss.IndexFlatIP(kb.vectors.shape[1])
    exact.add(kb.vectors)  # vector ids of a fresh build are the row numbers
    _, truth = exact.search(data.test_vectors, 10)
    del exact
    _, found = snap.search(data.test_vectors, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), truth.tolist())]))

    memory = index_memory(snap.path / "index.faiss")

    engine = ChatEngine(Settings(home=work / "home", generator="extractive"), retriever,
                        ExtractiveGenerator(), store=None)
    full_ms, embed_ms = [], []
    texts = data.test_texts[: args.full_queries]
    for previous, text in zip(["", *texts], texts):
        history = [ChatMessage("user", previous)] if previous else []
        start = time.perf_counter()
        engine.decide(text, history=history)
        full_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        embedder.encode([text])  # the query's embedding alone, for what the rest costs
        embed_ms.append((time.perf_counter() - start) * 1000)

    return {
        "phrasings": kb.phrasing_count, "entries": len(kb.entries), "source": kb.source,
        "index": manifest.index_type, "params": manifest.index_params, "mapped": snap.mmapped,
        "build_s": build_s, "load_s": load_s,
        "product_p50": statistics.median(product_ms), "product_p95": percentile(product_ms, 95),
        "raw_p50": statistics.median(raw_ms), "raw_p95": percentile(raw_ms, 95),
        "recall": recall, "memory_ratio": memory / kb.vectors.nbytes,
        "file_mb": (snap.path / "index.faiss").stat().st_size / 2**20,
        "full_p50": statistics.median(full_ms), "full_p95": percentile(full_ms, 95),
        "embed_p50": statistics.median(embed_ms),
    }


def crossover(data, queries: int) -> None:
    """Flat vs HNSW single-query latency (raw FAISS, the product's parameters) by size."""
    import faiss

    from knowledge_base.index import ann

    threads = faiss.omp_get_max_threads()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {queries} queries, fetching 40")
    print(f"| phrasings | flat p50 ms, 1 thread | flat p50 ms, {threads} threads | hnsw p50 ms, 1 thread "
          "| hnsw build s | hnsw recall@10 |")
    print("|---|---|---|---|---|---|")
    for size in (2_000, 5_000, 10_000, 20_000, 50_000):
        kb = synthetic_kb(data, size)
        ids = np.arange(size, dtype=np.int64)
        flat = ann.build_index(ann.choose_spec("flat", size), kb.vectors.shape[1], kb.vectors, ids)
        start = time.perf_counter()
        hnsw = ann.build_index(ann.choose_spec("hnsw", size), kb.vectors.shape[1], kb.vectors, ids)
        build = time.perf_counter() - start
        timings = {}
        for name, index, nthreads in (("flat1", flat, 1), ("flatn", flat, threads), ("hnsw", hnsw, 1)):
            faiss.omp_set_num_threads(nthreads)
            samples = []
            for vector in data.test_vectors[:queries]:
                start = time.perf_counter()
                index.search(vector.reshape(1, -1), 40)
                samples.append((time.perf_counter() - start) * 1000)
            timings[name] = statistics.median(samples)
        faiss.omp_set_num_threads(threads)
        _, truth = flat.search(data.test_vectors, 10)
        _, found = hnsw.search(data.test_vectors, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), truth.tolist())])
        print(f"| {size:,} | {timings['flat1']:.3f} | {timings['flatn']:.3f} | {timings['hnsw']:.3f} | "
              f"{build:.1f} | {recall:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="phrasing counts; 10000 means BANKING77's real training phrasings")
    parser.add_argument("--queries", type=int, default=1000, help="test questions for search latency")
    parser.add_argument("--full-queries", type=int, default=200, help="test questions for full retrieval")
    parser.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivf"])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "bench-scale-cache",
                        help="where BANKING77's embeddings are kept between runs")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--crossover", action="store_true", help="only the flat vs HNSW measurement")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for query embedding (0: torch's default); on a shared "
                             "2-core machine two threads contend with other processes")
    args = parser.parse_args()

    import faiss
    import torch

    from knowledge_base.embedding.embedder import Embedder

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    started, load_before = time.perf_counter(), os.getloadavg()
    openmp_threads = faiss.omp_get_max_threads()  # before any search sets a thread's own count
    embedder = Embedder("all-MiniLM-L6-v2", device="cpu")
    embedder.warm_up()
    data, embed_s = load_banking77(DATA, embedder.encode, args.cache)
    if args.crossover:
        crossover(data, min(args.queries, 300))
        return
    sizes = [len(data.texts) if int(s) == 10_000 else int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows = [measure(size, data, embedder, args, work) for size in sizes]
    load_after = os.getloadavg()

    print(f"\nindex scale, one run: {os.cpu_count()} CPUs, faiss {faiss.__version__} with "
          f"{openmp_threads} OpenMP threads (1 for single queries), torch threads "
          f"{torch.get_num_threads()}; load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.1f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.1f}' for x in load_after)} after; "
          f"{min(args.queries, len(data.test_vectors))} queries for search, {args.full_queries} for full "
          f"retrieval; total {time.perf_counter() - started:.0f} s")
    if embed_s:
        print(f"embedding BANKING77 ({len(data.texts) + len(data.test_texts)} texts): {embed_s:.0f} s, "
              f"{(len(data.texts) + len(data.test_texts)) / embed_s:.0f} texts/s")
    header = ("phrasings", "index", "build s", "search p50 / p95 ms", "raw faiss p50 / p95 ms", "ratio",
              "recall@10", "memory", "full retrieval p50 ms (embedding alone)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        print(f"| {row['phrasings']:,} | {row['index']}{f' ({params})' if params else ''}"
              f"{', mmap' if row['mapped'] else ''} | {row['build_s']:.1f} | "
              f"{row['product_p50']:.3f} / {row['product_p95']:.3f} | {row['raw_p50']:.3f} / {row['raw_p95']:.3f} | "
              f"{row['product_p50'] / row['raw_p50']:.2f}x | {row['recall']:.3f} | "
              f"{row['memory_ratio']:.2f}x ({row['file_mb']:.0f} MB file) | {row['full_p50']:.1f} "
              f"({row['embed_p50']:.1f}) |")
    for row in rows:
        print(f"{row['phrasings']:,} phrasings in {row['entries']:,} entries: {row['source']}; "
              f"snapshot load {row['load_s']:.1f} s; full retrieval p95 {row['full_p95']:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
