"""Build, update and switch index snapshots: each build writes a new folder, then switches to it
atomically. What a snapshot holds is `knowledge_base.index.snapshot`'s; what a build fits on
its vectors (head, calibration, BM25) is `knowledge_base.index.fitting`'s.

Layout under the index folder (`CHATBOT_HOME/index`)::

    CURRENT              name of the snapshot in service (replaced with os.replace)
    snapshots/<name>/    one snapshot (see knowledge_base.index.snapshot)

A crash mid-build leaves a `.tmp-*` folder behind and `CURRENT` unchanged, so the old snapshot
keeps serving. An update re-embeds only the entries that changed; when the index kind the KB's
size calls for changes (or an HNSW graph holds too many deleted vectors), the index is rebuilt
from the stored vectors, still without re-embedding.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from knowledge_base.entries import Entry
from knowledge_base.index import ann
from knowledge_base.index.ann import IndexSpec
from knowledge_base.index.fitting import fit_snapshot
from knowledge_base.index.snapshot import (IndexNotBuilt, Manifest, Phrasing, Snapshot, checksum, load_snapshot,
                                           read_manifest, write_manifest, write_snapshot)
from knowledge_base.retrieval.calibration import CalibrationInputs
from knowledge_base.retrieval.entry_head import HEAD_WEIGHT, EntryHead, head_wanted

if TYPE_CHECKING:
    import faiss

    from knowledge_base.embedding.embedder import Embedder

KEEP_SNAPSHOTS = 3  # older snapshots are removed; a few stay for processes still reading them
log = logging.getLogger(__name__)


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
        """The manifest of the snapshot in service, or None before the first build."""
        name = self.current_name()
        return None if name is None else read_manifest(self.snapshots_dir / name)

    def load(self, verify: bool = False, mmap: bool | None = None) -> Snapshot:
        """Load the snapshot in service; `verify` recomputes its checksum first. `mmap` (default:
        the store's) maps the index file instead of reading it; a mapped index must not change."""
        name = self.current_name()
        if name is None:
            raise IndexNotBuilt(f"no index in {self.index_dir}: run `chatbot index rebuild`")
        return load_snapshot(self.snapshots_dir / name, verify, self.mmap if mmap is None else mmap)

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
        The head, threshold and BM25 are fitted first (`fit_snapshot`)."""
        # Minutes at a million phrasings (BM25's tokenising above all), so the steps are shown.
        steps = tqdm(total=3, desc="Writing the snapshot", unit="step",
                     disable=not progress or len(phrasings) < ann.ADD_BATCH)
        steps.set_postfix_str("calibrating")
        ordered = sorted(phrasings, key=lambda p: p.vector_id)
        if vectors is None:
            vectors = (index.reconstruct_batch(np.array([p.vector_id for p in ordered], dtype=np.int64))
                       if ordered else np.zeros((0, dimension), dtype=np.float32))

        def step(name: str) -> None:
            steps.update()
            steps.set_postfix_str(name)

        fit = fit_snapshot(vectors, [p.entry_id for p in ordered], list(entries.values()),
                           entry_head=self.entry_head, previous_head=self._previous_head(model_name, dimension),
                           calibration=calibration, encode=encode, step=step)
        step("index and phrasings")
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%dT%H%M%S") + f"-v{kb_version}-{os.urandom(3).hex()}"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.snapshots_dir))
        write_snapshot(tmp, index, ordered, entries.values(), fit.lexical, fit.head)
        steps.update()
        steps.close()
        manifest = Manifest(
            embedding_model=model_name, dimension=dimension, kb_version=kb_version,
            entry_count=len(entries), phrasing_count=len(phrasings), checksum=checksum(tmp),
            created_at=time.time(), index_type=spec.kind, snapshot=name,
            answer_threshold=fit.calibration.threshold, lexical_weight=fit.lexical_weight,
            index_params=dict(spec.params), tombstones=index.ntotal - len(phrasings), mmap=ann.can_mmap(),
            calibration=asdict(fit.calibration), entry_head=fit.head is not None,
            head_weight=HEAD_WEIGHT if fit.head is not None else 0.0,
            clarify=fit.band.to_dict() if fit.band is not None else None,
        )
        write_manifest(tmp, manifest)
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
