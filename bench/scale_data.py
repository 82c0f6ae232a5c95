"""Knowledge bases of 10k to 1M phrasings for bench/bench_scale.py, grown from BANKING77.

Random unit vectors in 384-d have no neighbourhoods (every cosine is about 0), the worst case for
an approximate index and nothing like a FAQ. These sets keep the geometry of real embeddings:

- `real_kb`: the BANKING77 training phrasings as they are (10,003 texts embedded with the shipped
  all-MiniLM-L6-v2), cut into entries of `per_entry` phrasings of one intent.
- `synthetic_kb`: `n` phrasings in entries of `per_entry`. Each entry picks a real phrasing as its
  topic; each of its phrasings is `topic + w * sibling + noise`, normalised, where `sibling` is
  another real phrasing of the topic's intent, `w` uniform in [0, 0.5] and the noise Gaussian
  with sigma 0.03 per dimension (cosine to the topic about 0.87; real paraphrases of one intent
  have a nearest-sibling cosine of about 0.91). Its text recombines the words of the topic and
  the sibling, so BM25 has realistic vocabulary and document lengths.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOISE_SIGMA = 0.03
MAX_SIBLING_WEIGHT = 0.5


@dataclass
class Banking77:
    """BANKING77's texts, intents and MiniLM vectors (train) and its test questions."""

    texts: list[str]
    intents: list[str]
    vectors: np.ndarray  # unit rows, one per text
    test_texts: list[str]
    test_vectors: np.ndarray


def _read(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"].strip() for r in rows], [r["category"] for r in rows]


def load_banking77(data: Path, embed, cache: Path | None = None) -> tuple[Banking77, float]:
    """BANKING77 embedded by `embed(texts) -> unit vectors`; vectors are cached in `cache` (keyed by
    the texts). Returns the data and the seconds spent embedding (0.0 from the cache)."""
    texts, intents = _read(data / "train.csv")
    test_texts, _ = _read(data / "test.csv")
    key = hashlib.sha256("\n".join(texts + test_texts).encode()).hexdigest()[:16]
    cached = cache / f"banking77-{key}.npz" if cache else None
    seconds = 0.0
    if cached is not None and cached.exists():
        arrays = np.load(cached)
        vectors, test_vectors = arrays["train"], arrays["test"]
    else:
        start = time.perf_counter()
        vectors, test_vectors = embed(texts), embed(test_texts)
        seconds = time.perf_counter() - start
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, train=vectors, test=test_vectors)
    return Banking77(texts, intents, np.asarray(vectors, np.float32), test_texts,
                     np.asarray(test_vectors, np.float32)), seconds


@dataclass
class ScaleKB:
    """Entries as (id, phrasing texts, answer) and one unit vector per phrasing, in entry order."""

    entries: list[tuple[str, list[str], str]]
    vectors: np.ndarray
    source: str  # what the vectors are, for the bench's output

    @property
    def phrasing_count(self) -> int:
        return len(self.vectors)


def real_kb(data: Banking77, per_entry: int = 10) -> ScaleKB:
    """The real phrasings, `per_entry` phrasings of one intent per entry."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for row, intent in enumerate(data.intents):
        by_intent[intent].append(row)
    entries, order = [], []
    seen: set[str] = set()
    for intent, rows in sorted(by_intent.items()):
        # Entry.phrasings drops case-insensitive repeats: keep one vector per kept text.
        unique = []
        for row in rows:
            if data.texts[row].casefold() not in seen:
                seen.add(data.texts[row].casefold())
                unique.append(row)
        rows = unique
        for start in range(0, len(rows), per_entry):
            chunk = rows[start:start + per_entry]
            entries.append((f"{intent}-{start // per_entry}", [data.texts[r] for r in chunk],
                            f"Answer about {intent.replace('_', ' ')}."))
            order.extend(chunk)
    return ScaleKB(entries, data.vectors[order], "BANKING77 train phrasings, real MiniLM embeddings")


def synthetic_kb(data: Banking77, n: int, per_entry: int = 10, seed: int = 0) -> ScaleKB:
    """`n` phrasings clustered around real embeddings (see the module doc)."""
    rng = np.random.default_rng(seed)
    intent_of = np.array(data.intents)
    names, intent_index, counts = np.unique(intent_of, return_inverse=True, return_counts=True)
    by_intent = np.argsort(intent_index, kind="stable")  # rows grouped by intent
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    n_entries = -(-n // per_entry)
    topics = rng.integers(0, len(data.texts), n_entries)
    topic = np.repeat(topics, per_entry)[:n]
    # A sibling of the same intent for each phrasing: a random row of that intent.
    group = intent_index[topic]
    sibling = by_intent[starts[group] + (rng.random(n) * counts[group]).astype(np.int64)]
    vectors = np.empty((n, data.vectors.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: the noise alone would be 1.5 GB at 1M
        block = slice(start, min(n, start + 100_000))
        size = block.stop - block.start
        weight = rng.random((size, 1), dtype=np.float32) * MAX_SIBLING_WEIGHT
        noise = rng.standard_normal((size, vectors.shape[1]), dtype=np.float32) * NOISE_SIGMA
        v = data.vectors[topic[block]] + weight * data.vectors[sibling[block]] + noise
        vectors[block] = v / np.linalg.norm(v, axis=1, keepdims=True)
    words = [t.split() for t in data.texts]
    # Python loops over numpy scalars are slow: plain lists and pre-drawn random numbers.
    topic_list, sibling_list, draws = topic.tolist(), sibling.tolist(), rng.random((n, 4)).tolist()
    entries = []
    for e in range(n_entries):
        texts: list[str] = []
        seen: set[str] = set()
        for r in range(e * per_entry, min(n, (e + 1) * per_entry)):
            mine, theirs = words[topic_list[r]], words[sibling_list[r]]
            text = _recombine(mine, theirs, draws[r])
            while text.casefold() in seen:  # Entry.phrasings drops repeats
                text += " " + theirs[int(rng.integers(len(theirs)))]
            seen.add(text.casefold())
            texts.append(text)
        intent = names[group[e * per_entry]]
        entries.append((f"e{e}", texts, f"Answer {e} about {intent.replace('_', ' ')}."))
    return ScaleKB(entries, vectors, f"synthetic: real MiniLM embeddings of BANKING77 + sibling mix "
                                     f"+ noise (sigma {NOISE_SIGMA})")


def _recombine(topic: list[str], sibling: list[str], draws: list[float]) -> str:
    """The topic's words with two swapped for the sibling's, at positions drawn from `draws`
    (four numbers in [0, 1))."""
    out = list(topic)
    for where, which in ((draws[0], draws[1]), (draws[2], draws[3])):
        out[int(where * len(out))] = sibling[int(which * len(sibling))]
    return " ".join(out)
