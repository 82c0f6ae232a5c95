"""FAISS index snapshots: each build or update writes a new folder, then switches to it atomically.

Layout under the index folder (``CHATBOT_HOME/index``)::

    CURRENT                      name of the snapshot in service (replaced with os.replace)
    snapshots/<name>/index.faiss inner-product index over unit vectors, one per phrasing; its kind
                                 (flat, HNSW, IVF) follows the KB's size (knowledge_base.index.ann)
    snapshots/<name>/phrasings.jsonl  vector id -> entry id and phrasing text
    snapshots/<name>/entries.jsonl    the entries at this KB version (what hits return)
    snapshots/<name>/lexical.*        BM25 over the phrasings and answers (knowledge_base.retrieval.lexical)
    snapshots/<name>/manifest.json    model, dimension, KB version, counts, checksum, calibration

A crash mid-build leaves a `.tmp-*` folder behind and `CURRENT` unchanged, so the old snapshot
keeps serving. An update re-embeds only the entries that changed; when the index kind the KB's
size calls for changes (or an HNSW graph holds too many deleted vectors), the index is rebuilt
from the stored vectors, still without re-embedding. Serving processes memory-map `index.faiss`
where FAISS can (`ann.read_index`), so they share one copy of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from knowledge_base.index import ann
from knowledge_base.index.ann import IndexSpec
from knowledge_base.retrieval.calibration import DEFAULT_QUANTILE, TUNED_QUANTILE, CalibrationInputs, calibrate
from knowledge_base.entries import Entry
from knowledge_base.retrieval.entry_head import HEAD_WEIGHT, EntryHead, fit_entry_head, head_wanted
from knowledge_base.retrieval.fusion import LEXICAL_WEIGHT_PER_SPREAD, dense_spread
from knowledge_base.retrieval.hits import Hit
from knowledge_base.retrieval.lexical import MANIFEST as LEXICAL_MANIFEST
from knowledge_base.retrieval.lexical import LexicalIndex, entry_documents
from knowledge_base.embedding.tuning import tuned_from

if TYPE_CHECKING:
    import faiss

    from knowledge_base.embedding.embedder import Embedder

KEEP_SNAPSHOTS = 3  # older snapshots are removed; a few stay for processes still reading them
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


def _checksum(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("index.faiss", "phrasings.jsonl", "entries.jsonl"):
        with open(folder / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class IndexStore:
    """Builds, updates and loads snapshots in one folder. Safe across processes (file lock).

    `index_type` ("auto", "flat", "hnsw", "ivf"; see knowledge_base.index.ann) decides the kind of
    index each build makes; `mmap` whether `load` maps index files where FAISS can.
    """

    def __init__(self, index_dir: Path, entry_head: str = "auto", index_type: str = "auto",
                 mmap: bool = True) -> None:
        """`entry_head`: fit a classifier head over the entries ("auto", "on", "off"; see
        `knowledge_base.retrieval.entry_head.head_wanted`)."""
        head_wanted(entry_head, 0, 0)  # a bad value fails here, not at the first build
        self.entry_head = entry_head
        self.index_dir = Path(index_dir)
        self.snapshots_dir = self.index_dir / "snapshots"
        self.index_type = ann.validate_index_type(index_type)
        self.mmap = mmap
        self._lock = FileLock(str(self.index_dir / ".build.lock"))

    # -- reading -----------------------------------------------------------------------------
    def current_name(self) -> str | None:
        """The snapshot in service, or None before the first build."""
        try:
            return (self.index_dir / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def read_manifest(self) -> Manifest | None:
        name = self.current_name()
        if name is None:
            return None
        data = json.loads((self.snapshots_dir / name / "manifest.json").read_text())
        return Manifest(**data)

    def load(self, verify: bool = False, mmap: bool | None = None) -> Snapshot:
        """Load the snapshot in service; `verify` recomputes its checksum first. `mmap` (default:
        the store's) maps the index file instead of reading it; a mapped index must not change."""
        name = self.current_name()
        if name is None:
            raise IndexNotBuilt(f"no index in {self.index_dir}: run `chatbot index rebuild`")
        folder = self.snapshots_dir / name
        manifest = Manifest(**json.loads((folder / "manifest.json").read_text()))
        if verify and _checksum(folder) != manifest.checksum:
            raise RuntimeError(f"index snapshot {folder} is corrupt (checksum mismatch): rebuild it")
        mmap = self.mmap if mmap is None else mmap
        index, mapped = ann.read_index(folder / "index.faiss", mmap=mmap and manifest.mmap)
        ann.configure(index, manifest.spec)
        phrasings = {}
        with open(folder / "phrasings.jsonl", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                phrasings[row["vector_id"]] = Phrasing(row["vector_id"], row["entry_id"], row["text"])
        entries = {}
        with open(folder / "entries.jsonl", encoding="utf-8") as handle:
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
        log.info("loaded index snapshot %s: %s, %d phrasings, %d tombstones, %s", name,
                 ann.describe(manifest.spec), len(phrasings), tombstones.size,
                 "memory-mapped" if mapped else "read into memory")
        head = EntryHead.load(folder) if manifest.entry_head else None
        return Snapshot(manifest, index, phrasings, entries, folder, lexical, vector_ids, mapped, tombstones,
                        head)

    # -- writing -----------------------------------------------------------------------------
    def rebuild(self, entries: Iterable[Entry], kb_version: int, embedder: "Embedder",
                progress: bool = False, calibration: CalibrationInputs | None = None) -> Manifest:
        """Embed every phrasing of `entries` into a new snapshot and switch to it; its answer
        threshold is calibrated with `calibration` (target rate, labelled queries) if given."""
        entries = list(entries)
        texts = [text for entry in entries for text in entry.phrasings]
        vectors = self._embed(texts, embedder, progress)
        return self.rebuild_from_vectors(entries, vectors, kb_version, embedder.model_name, progress,
                                         calibration, embedder.encode)

    def rebuild_from_vectors(self, entries: Iterable[Entry], vectors: np.ndarray, kb_version: int,
                             model_name: str, progress: bool = False,
                             calibration: CalibrationInputs | None = None,
                             encode: Callable[[list[str]], np.ndarray] | None = None) -> Manifest:
        """A new snapshot of `entries` from vectors already embedded by `model_name`: one unit row
        per phrasing, in the order of `[p for e in entries for p in e.phrasings]`. `encode` (that
        model's) is needed only when `calibration` has labelled queries."""
        entries = list(entries)
        phrasings = [Phrasing(i, e.id, text)
                     for i, (e, text) in enumerate((e, t) for e in entries for t in e.phrasings)]
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(phrasings):
            raise ValueError(f"{len(phrasings)} phrasings but vectors of shape {vectors.shape}")
        with self._lock:
            spec = ann.choose_spec(self.index_type, len(phrasings))
            index = ann.build_index(spec, vectors.shape[1], vectors,
                                    np.arange(len(phrasings), dtype=np.int64), progress)
            return self._write(index, spec, phrasings, {e.id: e for e in entries}, kb_version,
                               model_name, vectors.shape[1], vectors, progress, calibration, encode)

    def update(self, upserted: list[Entry], deleted_ids: list[str], kb_version: int,
               embedder: "Embedder", progress: bool = False,
               calibration: CalibrationInputs | None = None) -> Manifest:
        """Apply changed and deleted entries to the current snapshot, re-embedding only those
        (none: the same vectors in a new snapshot, recalibrated with `calibration`).

        Deleted phrasings leave an HNSW graph only when it is rebuilt: until then they are
        tombstones that searches skip. The index is rebuilt from its stored vectors when the
        kind or structure chosen for the new size differs, or tombstones pass
        `ann.TOMBSTONE_LIMIT`. With no changes this only brings the index to the chosen kind.
        """
        with self._lock:
            snap = self.load(mmap=False)  # a mapped index is read-only
            if snap.manifest.embedding_model != embedder.model_name:
                raise ValueError("the embedding model changed: a full rebuild is needed")
            spec = snap.manifest.spec
            gone = set(deleted_ids) | {e.id for e in upserted}
            stale = [vid for vid, p in snap.phrasings.items() if p.entry_id in gone]
            ann.remove_vectors(snap.index, spec, np.array(stale, dtype=np.int64))
            phrasings = {vid: p for vid, p in snap.phrasings.items() if p.entry_id not in gone}
            # Ids are never reused: a tombstone keeps its id until its graph is rebuilt.
            next_id = int(max(snap.phrasings, default=-1)) + 1
            if snap.tombstones.size:
                next_id = max(next_id, int(snap.tombstones.max()) + 1)
            new = [Phrasing(next_id + i, e.id, text)
                   for i, (e, text) in enumerate((e, t) for e in upserted for t in e.phrasings)]
            if new:
                vectors = self._embed([p.text for p in new], embedder, progress)
                ann.add_vectors(snap.index, vectors, np.array([p.vector_id for p in new], dtype=np.int64))
            phrasings.update({p.vector_id: p for p in new})
            entries = {k: v for k, v in snap.entries.items() if k not in gone}
            entries.update({e.id: e for e in upserted})
            index, spec = self._reshape(snap.index, spec, list(phrasings.values()), embedder.dimension,
                                        progress)
            return self._write(index, spec, list(phrasings.values()), entries, kb_version,
                               embedder.model_name, embedder.dimension, progress=progress,
                               calibration=calibration, encode=embedder.encode)

    def needs_reshape(self, manifest: Manifest) -> bool:
        """Whether the snapshot's index is not the kind and structure this store would build for
        it now (the setting or the KB's size changed since): `update` with no changes fixes it."""
        wanted = ann.choose_spec(self.index_type, manifest.phrasing_count)
        return not wanted.same_structure(manifest.spec)

    def _reshape(self, index: "faiss.Index", spec: IndexSpec, phrasings: list[Phrasing], dimension: int,
                 progress: bool) -> tuple["faiss.Index", IndexSpec]:
        """The index to write after an update: the same one with the search parameters chosen for
        its new size, or one rebuilt from its stored vectors (see `update`)."""
        wanted = ann.choose_spec(self.index_type, len(phrasings))
        tombstones = index.ntotal - len(phrasings)
        if wanted.same_structure(spec) and tombstones <= ann.TOMBSTONE_LIMIT * max(index.ntotal, 1):
            ann.configure(index, wanted)
            return index, wanted
        log.info("rebuilding the index as %s from its stored vectors (was %s, %d tombstones)",
                 ann.describe(wanted), ann.describe(spec), tombstones)
        ids = np.array(sorted(p.vector_id for p in phrasings), dtype=np.int64)
        vectors = index.reconstruct_batch(ids) if ids.size else np.zeros((0, dimension), np.float32)
        return ann.build_index(wanted, dimension, vectors, ids, progress), wanted

    @staticmethod
    def _embed(texts: list[str], embedder: "Embedder", progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        # Batches of a few hundred keep the bar moving and memory flat on large knowledge bases.
        step = max(embedder.batch_size * 4, 256)
        chunks = []
        with tqdm(total=len(texts), desc="Embedding phrasings", unit="phrasing",
                  disable=not progress) as bar:
            for start in range(0, len(texts), step):
                chunks.append(embedder.encode(texts[start:start + step]))
                bar.update(min(step, len(texts) - start))
        return np.concatenate(chunks)

    def _write(self, index: "faiss.Index", spec: IndexSpec, phrasings: list[Phrasing],
               entries: dict[str, Entry], kb_version: int, model_name: str, dimension: int,
               vectors: np.ndarray | None = None, progress: bool = False,
               calibration: CalibrationInputs | None = None,
               encode: Callable[[list[str]], np.ndarray] | None = None) -> Manifest:
        """Write a snapshot of `index` and switch to it. `vectors`: the phrasings' vectors in
        vector-id order, when the caller has them (else they are read back from the index).
        The classifier head is fitted and the threshold calibrated here (see `calibrate`)."""
        import faiss

        # Minutes at a million phrasings (BM25's tokenising above all), so the steps are shown.
        steps = tqdm(total=3, desc="Writing the snapshot", unit="step",
                     disable=not progress or len(phrasings) < ann.ADD_BATCH)
        steps.set_postfix_str("calibrating")
        ordered = sorted(phrasings, key=lambda p: p.vector_id)
        if vectors is None:
            vectors = (index.reconstruct_batch(np.array([p.vector_id for p in ordered], dtype=np.int64))
                       if ordered else np.zeros((0, dimension), dtype=np.float32))
        vector_entries = [p.entry_id for p in ordered]
        quantile = TUNED_QUANTILE if tuned_from(model_name) else DEFAULT_QUANTILE
        head = (fit_entry_head(vectors, vector_entries, init=self._previous_head(model_name, dimension))
                if head_wanted(self.entry_head, len(entries), len(ordered)) else None)
        calibrated = calibrate(vectors, vector_entries, quantile, calibration, encode=encode, head=head)
        lexical_weight = round(LEXICAL_WEIGHT_PER_SPREAD * dense_spread(vectors, vector_entries), 4)
        steps.update()
        steps.set_postfix_str("index and phrasings")
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%dT%H%M%S") + f"-v{kb_version}-{os.urandom(3).hex()}"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.snapshots_dir))
        faiss.write_index(index, str(tmp / "index.faiss"))
        with open(tmp / "phrasings.jsonl", "w", encoding="utf-8") as handle:
            for p in ordered:  # a dict literal: dataclasses.asdict took a tenth of a 100k build
                row = {"vector_id": p.vector_id, "entry_id": p.entry_id, "text": p.text}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        with open(tmp / "entries.jsonl", "w", encoding="utf-8") as handle:
            for entry in sorted(entries.values(), key=lambda e: e.id):
                handle.write(json.dumps(_entry_to_json(entry), ensure_ascii=False) + "\n")
        steps.update()
        steps.set_postfix_str("BM25")
        LexicalIndex().build(entry_documents(entries.values())).save(tmp)
        if head is not None:
            head.save(tmp)
        steps.update()
        steps.close()
        manifest = Manifest(
            embedding_model=model_name, dimension=dimension, kb_version=kb_version,
            entry_count=len(entries), phrasing_count=len(phrasings), checksum=_checksum(tmp),
            created_at=time.time(), index_type=spec.kind, snapshot=name,
            answer_threshold=calibrated.threshold, lexical_weight=lexical_weight,
            index_params=dict(spec.params), tombstones=index.ntotal - len(phrasings), mmap=ann.can_mmap(),
            calibration=asdict(calibrated), entry_head=head is not None,
            head_weight=HEAD_WEIGHT if head is not None else 0.0,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        os.replace(tmp, self.snapshots_dir / name)
        self._switch_to(name)
        self._prune(keep=name)
        return manifest

    def _previous_head(self, model_name: str, dimension: int) -> EntryHead | None:
        """The head in service, when it was fitted on vectors of the same model: the next fit
        starts from it (an import that changed a few entries then refits in seconds)."""
        manifest = self.read_manifest()
        if manifest is None or not manifest.entry_head or manifest.embedding_model != model_name \
                or manifest.dimension != dimension:
            return None
        try:
            return EntryHead.load(self.snapshots_dir / manifest.snapshot)
        except (OSError, ValueError, KeyError):  # a damaged head only costs a fit from zero
            return None

    def _switch_to(self, name: str) -> None:
        pointer = self.index_dir / f".CURRENT.{os.getpid()}"
        pointer.write_text(name + "\n")
        os.replace(pointer, self.index_dir / "CURRENT")  # atomic on POSIX: readers see old or new

    def _prune(self, keep: str) -> None:
        folders = sorted((p for p in self.snapshots_dir.iterdir() if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        finished = [p for p in folders if not p.name.startswith(".tmp-")]
        for old in finished[KEEP_SNAPSHOTS:]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in folders:
            # Leftovers of crashed builds, old enough that no build is still writing them.
            if tmp.name.startswith(".tmp-") and time.time() - tmp.stat().st_mtime > 3600:
                shutil.rmtree(tmp, ignore_errors=True)
