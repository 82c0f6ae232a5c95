"""Index snapshots on disk: their format, and loading one (memory-mapped where FAISS can).

Layout of one snapshot folder (`knowledge_base.index.writer` writes them and switches between them)::

    index.faiss        inner-product index over unit vectors, one per phrasing; its kind
                       (flat, HNSW, IVF) follows the KB's size (knowledge_base.index.ann)
    phrasings.jsonl    vector id -> entry id and phrasing text
    entries.jsonl      the entries at this KB version (what hits return)
    lexical.*          BM25 over the phrasings and answers (knowledge_base.retrieval.lexical)
    head.npz           the classifier head, when there is one (knowledge_base.retrieval.entry_head)
    manifest.json      model, dimension, KB version, counts, checksum, calibration

Serving processes memory-map `index.faiss` where FAISS can (`ann.read_index`), so they share one
copy of it; a checksum over the index, phrasings and entries files detects a damaged snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from knowledge_base.entries import Entry
from knowledge_base.index import ann
from knowledge_base.index.ann import IndexSpec
from knowledge_base.retrieval.entry_head import EntryHead
from knowledge_base.retrieval.hits import Hit
from knowledge_base.retrieval.lexical import MANIFEST as LEXICAL_MANIFEST
from knowledge_base.retrieval.lexical import LexicalIndex

if TYPE_CHECKING:
    import faiss

MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
PHRASINGS_FILE = "phrasings.jsonl"
ENTRIES_FILE = "entries.jsonl"
log = logging.getLogger(__name__)


class IndexNotBuilt(RuntimeError):
    """There is no snapshot yet: run `chatbot index rebuild` (or import a knowledge base)."""


@dataclass(frozen=True)
class Manifest:
    embedding_model: str
    dimension: int
    kb_version: int
    entry_count: int
    phrasing_count: int
    checksum: str
    created_at: float
    index_type: str = "flat"  # "flat", "hnsw" or "ivf" (knowledge_base.index.ann)
    snapshot: str = ""
    answer_threshold: float | None = None  # calibrated on the phrasings (knowledge_base.retrieval.calibration)
    lexical_weight: float = 0.0  # BM25's share in fusion, scaled to this model's cosine spread
    index_params: dict[str, int] = field(default_factory=dict)  # M, efConstruction, efSearch / nlist, nprobe
    tombstones: int = 0  # deleted phrasings an HNSW graph still holds (filtered out of searches)
    mmap: bool = False  # serving processes memory-map index.faiss (FAISS IO_FLAG_MMAP_IFC)
    calibration: dict | None = None  # knowledge_base.retrieval.calibration.Calibration: rule, expected rates
    entry_head: bool = False  # a classifier head (head.npz) blends into the scores: entry_head.py
    head_weight: float = 0.0
    # The "Did you mean …?" band (knowledge_base.retrieval.clarify_band.ClarifyBand): answer,
    # clarify and margin, with what they do on the calibration pairs; None: not calibrated.
    clarify: dict | None = None

    @property
    def spec(self) -> IndexSpec:
        return ann.spec_from_manifest(self.index_type, self.index_params)


@dataclass(frozen=True)
class Phrasing:
    vector_id: int
    entry_id: str
    text: str


@dataclass
class Snapshot:
    """A loaded snapshot: the FAISS index and what its vector ids mean."""

    manifest: Manifest
    index: "faiss.Index"
    phrasings: dict[int, Phrasing]
    entries: dict[str, Entry]
    path: Path
    lexical: LexicalIndex | None = None
    vector_ids: dict[str, list[int]] = field(default_factory=dict)  # entry id -> its phrasings' ids
    mmapped: bool = False  # index.faiss is memory-mapped, not read into memory
    tombstones: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    head: EntryHead | None = None  # the classifier head, when the manifest says there is one
    _filter: ann.TombstoneFilter | None = field(default=None, repr=False)
    _entry_rows: list[Entry] = field(default_factory=list, repr=False)
    _entry_row_of_vector: np.ndarray = field(default_factory=lambda: np.full(1, -1, np.int32), repr=False)
    _text_of_vector: list[str | None] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.tombstones.size:
            self._filter = ann.TombstoneFilter(self.manifest.spec, self.tombstones)
        # Turning a search's phrasings into entries is the product's share of every dense
        # search. At 100k phrasings an HNSW search takes about 0.1 ms, and going through the
        # phrasing and entry dicts (several cache and TLB misses per result, after the graph
        # walk has evicted them) cost half as much again. So: one int32 array, vector id ->
        # row of its entry, gathers a search's entries at once, and plain lists indexed by row
        # and by vector id give the winners' entries and texts in one access each. The array's
        # last cell stays -1 so that FAISS's -1 ("no more results") maps to "no entry".
        self._entry_rows = [self.entries[entry_id] for entry_id in self.vector_ids]
        # Deleted phrasings still in a graph keep their ids (never returned: the filter skips
        # them), so the array covers them too and maps them to no entry.
        size = max(max(self.phrasings, default=-1), int(self.tombstones.max(initial=-1))) + 2
        self._entry_row_of_vector = np.full(size, -1, dtype=np.int32)
        for row, ids in enumerate(self.vector_ids.values()):
            self._entry_row_of_vector[ids] = row
        self._text_of_vector = [None] * size
        for vector_id, phrasing in self.phrasings.items():
            self._text_of_vector[vector_id] = phrasing.text

    def nearest_entries(self, vector: np.ndarray, k: int, fetch: int) -> list[Hit]:
        """The `k` entries whose phrasings are nearest to `vector` among its `fetch` nearest
        phrasings, best first, each scored by the cosine of its best phrasing."""
        scores, ids = self.search(vector, fetch)
        # One pass that builds the hits as it finds new entries: after a graph walk at 100k
        # phrasings the interpreter runs cold, and every extra container or comprehension here
        # (a dict of first positions, two `tolist`s) cost microseconds against a 0.12 ms search.
        hits: list[Hit] = []
        seen: set[int] = set()
        for position, row in enumerate(self._entry_row_of_vector[ids[0]].tolist()):
            if row >= 0 and row not in seen:  # -1: a deleted phrasing or no result
                seen.add(row)
                hits.append(Hit(self._entry_rows[row], scores.item(0, position),
                                self._text_of_vector[ids.item(0, position)]))
                if len(hits) == k:
                    break
        return hits

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's (scores, vector ids) of the `k` nearest live phrasings of each query row;
        deleted phrasings still in an HNSW graph are never returned. Missing results have id -1.

        A single query runs on one OpenMP thread (see knowledge_base.index.ann); batches use them all."""
        import faiss

        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.manifest.dimension)
        params = None if self._filter is None else self._filter.params
        if len(queries) > 1:
            return self.index.search(queries, k, params=params)
        # One query: FAISS's C entry point with the arrays made here. `index.search`'s Python
        # wrapper (dtype lookup, asserts, the same two arrays) costs about 8 % of a 0.1 ms HNSW
        # search at 100k phrasings, and this path runs once per customer message; `queries`
        # is already contiguous float32 of the index's dimension, which is what it checks.
        scores = np.empty((1, k), dtype=np.float32)
        ids = np.empty((1, k), dtype=np.int64)
        # Restored at once: other OpenMP work on this thread (FAISS's own BLAS among it) shares
        # the setting. Left at one thread between queries, the same question's scores differed
        # in their last bits from one call to the next (tests/chatbot/test_finetune_data.py).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            self.index.search_c(1, faiss.swig_ptr(queries), k, faiss.swig_ptr(scores), faiss.swig_ptr(ids), params)
        finally:
            faiss.omp_set_num_threads(threads)
        return scores, ids


def _entry_from_json(data: dict) -> Entry:
    return Entry(**{k: data.get(k) for k in ("id", "question", "answer", "alternates", "category",
                                              "language", "tags", "url", "version")})


def _entry_to_json(entry: Entry) -> dict:
    return {**entry.to_dict(), "version": entry.version}


def checksum(folder: Path) -> str:
    """SHA-256 over a snapshot's index, phrasings and entries files (recorded in its manifest)."""
    digest = hashlib.sha256()
    for name in (INDEX_FILE, PHRASINGS_FILE, ENTRIES_FILE):
        with open(folder / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the snapshot in `folder`."""
    return Manifest(**json.loads((folder / MANIFEST_FILE).read_text()))


def write_snapshot(folder: Path, index: "faiss.Index", phrasings: Iterable[Phrasing], entries: Iterable[Entry],
                   lexical: LexicalIndex, head: EntryHead | None) -> None:
    """Write every file of a snapshot but its manifest into `folder` (phrasings in vector-id
    order); `write_manifest` comes last, once the checksum can be taken."""
    import faiss

    faiss.write_index(index, str(folder / INDEX_FILE))
    with open(folder / PHRASINGS_FILE, "w", encoding="utf-8") as handle:
        for p in phrasings:  # a dict literal: dataclasses.asdict took a tenth of a 100k build
            row = {"vector_id": p.vector_id, "entry_id": p.entry_id, "text": p.text}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(folder / ENTRIES_FILE, "w", encoding="utf-8") as handle:
        for entry in sorted(entries, key=lambda e: e.id):
            handle.write(json.dumps(_entry_to_json(entry), ensure_ascii=False) + "\n")
    lexical.save(folder)
    if head is not None:
        head.save(folder)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write `manifest` into the snapshot `folder`."""
    (folder / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2))


def load_snapshot(folder: Path, verify: bool = False, mmap: bool = True) -> Snapshot:
    """Load the snapshot in `folder`; `verify` recomputes its checksum first. `mmap` maps the
    index file instead of reading it (where the manifest says FAISS can); a mapped index must
    not change."""
    manifest = read_manifest(folder)
    if verify and checksum(folder) != manifest.checksum:
        raise RuntimeError(f"index snapshot {folder} is corrupt (checksum mismatch): rebuild it")
    index, mapped = ann.read_index(folder / INDEX_FILE, mmap=mmap and manifest.mmap)
    ann.configure(index, manifest.spec)
    phrasings = {}
    with open(folder / PHRASINGS_FILE, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            phrasings[row["vector_id"]] = Phrasing(row["vector_id"], row["entry_id"], row["text"])
    entries = {}
    with open(folder / ENTRIES_FILE, encoding="utf-8") as handle:
        for line in handle:
            entry = _entry_from_json(json.loads(line))
            entries[entry.id] = entry
    # BM25's arrays are mapped alike (bm25s maps them with numpy), for the same sharing.
    lexical = LexicalIndex.load(folder, mmap=mmap) if (folder / LEXICAL_MANIFEST).exists() else None
    vector_ids: dict[str, list[int]] = {}
    for phrasing in phrasings.values():
        vector_ids.setdefault(phrasing.entry_id, []).append(phrasing.vector_id)
    # phrasings.jsonl lists the live vectors; whatever else a graph holds was deleted.
    tombstones = ann.tombstones(index, manifest.spec, np.fromiter(phrasings, np.int64, len(phrasings)))
    log.info("loaded index snapshot %s: %s, %d phrasings, %d tombstones, %s", folder.name,
             ann.describe(manifest.spec), len(phrasings), tombstones.size,
             "memory-mapped" if mapped else "read into memory")
    head = EntryHead.load(folder) if manifest.entry_head else None
    return Snapshot(manifest, index, phrasings, entries, folder, lexical, vector_ids, mapped, tombstones, head)
