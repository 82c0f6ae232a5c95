"""FAISS index snapshots: each build or update writes a new folder, then switches to it atomically.

Layout under the index folder (``CHATBOT_HOME/index``)::

    CURRENT                      name of the snapshot in service (replaced with os.replace)
    snapshots/<name>/index.faiss normalised inner-product index; one vector per phrasing
    snapshots/<name>/phrasings.jsonl  vector id -> entry id and phrasing text
    snapshots/<name>/entries.jsonl    the entries at this KB version (what hits return)
    snapshots/<name>/lexical.*        BM25 over the phrasings and answers (knowledge_base.lexical)
    snapshots/<name>/manifest.json    model, dimension, KB version, counts, checksum, calibration

A crash mid-build leaves a `.tmp-*` folder behind and `CURRENT` unchanged, so the old snapshot
keeps serving. An update re-embeds only the entries that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from knowledge_base.calibration import DEFAULT_QUANTILE, TUNED_QUANTILE, CalibrationInputs, calibrate
from knowledge_base.entries import Entry
from knowledge_base.entry_head import HEAD_WEIGHT, EntryHead, fit_entry_head, head_wanted
from knowledge_base.fusion import LEXICAL_WEIGHT_PER_SPREAD, dense_spread
from knowledge_base.lexical import MANIFEST as LEXICAL_MANIFEST
from knowledge_base.lexical import LexicalIndex, entry_documents
from knowledge_base.tuning import tuned_from

if TYPE_CHECKING:
    import faiss

    from knowledge_base.embedder import Embedder

KEEP_SNAPSHOTS = 3  # older snapshots are removed; a few stay for processes still reading them


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
    index_type: str = "IDMap2,Flat,IP"
    snapshot: str = ""
    answer_threshold: float | None = None  # calibrated on the phrasings (knowledge_base.calibration)
    lexical_weight: float = 0.0  # BM25's share in fusion, scaled to this model's cosine spread
    calibration: dict | None = None  # knowledge_base.calibration.Calibration: rule, expected rates
    entry_head: bool = False  # a classifier head (head.npz) blends into the scores: entry_head.py
    head_weight: float = 0.0


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
    head: EntryHead | None = None  # the classifier head, when the manifest says there is one


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
    """Builds, updates and loads snapshots in one folder. Safe across processes (file lock)."""

    def __init__(self, index_dir: Path, entry_head: str = "auto") -> None:
        """`entry_head`: fit a classifier head over the entries ("auto", "on", "off"; see
        `knowledge_base.entry_head.head_wanted`)."""
        head_wanted(entry_head, 0, 0)  # a bad value fails here, not at the first build
        self.entry_head = entry_head
        self.index_dir = Path(index_dir)
        self.snapshots_dir = self.index_dir / "snapshots"
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

    def load(self, verify: bool = False) -> Snapshot:
        """Load the snapshot in service; `verify` recomputes its checksum first."""
        import faiss

        name = self.current_name()
        if name is None:
            raise IndexNotBuilt(f"no index in {self.index_dir}: run `chatbot index rebuild`")
        folder = self.snapshots_dir / name
        manifest = Manifest(**json.loads((folder / "manifest.json").read_text()))
        if verify and _checksum(folder) != manifest.checksum:
            raise RuntimeError(f"index snapshot {folder} is corrupt (checksum mismatch): rebuild it")
        index = faiss.read_index(str(folder / "index.faiss"))
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
        lexical = LexicalIndex.load(folder) if (folder / LEXICAL_MANIFEST).exists() else None
        vector_ids: dict[str, list[int]] = {}
        for phrasing in phrasings.values():
            vector_ids.setdefault(phrasing.entry_id, []).append(phrasing.vector_id)
        head = EntryHead.load(folder) if manifest.entry_head else None
        return Snapshot(manifest, index, phrasings, entries, folder, lexical, vector_ids, head)

    # -- writing -----------------------------------------------------------------------------
    def rebuild(self, entries: Iterable[Entry], kb_version: int, embedder: "Embedder",
                progress: bool = False, calibration: CalibrationInputs | None = None) -> Manifest:
        """Embed every phrasing of `entries` into a new snapshot and switch to it; its answer
        threshold is calibrated with `calibration` (target rate, labelled queries) if given."""
        import faiss

        with self._lock:
            entries = list(entries)
            phrasings = [Phrasing(i, e.id, text)
                         for i, (e, text) in enumerate((e, t) for e in entries for t in e.phrasings)]
            vectors = self._embed([p.text for p in phrasings], embedder, progress)
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(embedder.dimension))
            if phrasings:
                index.add_with_ids(vectors, np.array([p.vector_id for p in phrasings], dtype=np.int64))
            return self._write(index, phrasings, {e.id: e for e in entries}, kb_version, embedder,
                               calibration)

    def update(self, upserted: list[Entry], deleted_ids: list[str], kb_version: int,
               embedder: "Embedder", progress: bool = False,
               calibration: CalibrationInputs | None = None) -> Manifest:
        """Apply changed and deleted entries to the current snapshot, re-embedding only those
        (none: the same vectors in a new snapshot, recalibrated with `calibration`)."""
        import faiss

        with self._lock:
            snap = self.load()
            if snap.manifest.embedding_model != embedder.model_name:
                raise ValueError("the embedding model changed: a full rebuild is needed")
            gone = set(deleted_ids) | {e.id for e in upserted}
            stale = [vid for vid, p in snap.phrasings.items() if p.entry_id in gone]
            if stale:
                snap.index.remove_ids(faiss.IDSelectorBatch(np.array(stale, dtype=np.int64)))
            phrasings = {vid: p for vid, p in snap.phrasings.items() if p.entry_id not in gone}
            next_id = max(snap.phrasings, default=-1) + 1
            new = [Phrasing(next_id + i, e.id, text)
                   for i, (e, text) in enumerate((e, t) for e in upserted for t in e.phrasings)]
            if new:
                vectors = self._embed([p.text for p in new], embedder, progress)
                snap.index.add_with_ids(vectors, np.array([p.vector_id for p in new], dtype=np.int64))
            phrasings.update({p.vector_id: p for p in new})
            entries = {k: v for k, v in snap.entries.items() if k not in gone}
            entries.update({e.id: e for e in upserted})
            return self._write(snap.index, list(phrasings.values()), entries, kb_version, embedder,
                               calibration)

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

    def _write(self, index: "faiss.Index", phrasings: list[Phrasing], entries: dict[str, Entry],
               kb_version: int, embedder: "Embedder", calibration: CalibrationInputs | None) -> Manifest:
        import faiss

        model_name, dimension = embedder.model_name, embedder.dimension

        ordered = sorted(phrasings, key=lambda p: p.vector_id)
        vectors = (index.reconstruct_batch(np.array([p.vector_id for p in ordered], dtype=np.int64))
                   if ordered else np.zeros((0, dimension), dtype=np.float32))
        vector_entries = [p.entry_id for p in ordered]
        quantile = TUNED_QUANTILE if tuned_from(model_name) else DEFAULT_QUANTILE
        head = (fit_entry_head(vectors, vector_entries)
                if head_wanted(self.entry_head, len(entries), len(ordered)) else None)
        calibrated = calibrate(vectors, vector_entries, quantile, calibration, encode=embedder.encode,
                               head=head)
        lexical_weight = round(LEXICAL_WEIGHT_PER_SPREAD * dense_spread(vectors, vector_entries), 4)
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%dT%H%M%S") + f"-v{kb_version}-{os.urandom(3).hex()}"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.snapshots_dir))
        faiss.write_index(index, str(tmp / "index.faiss"))
        with open(tmp / "phrasings.jsonl", "w", encoding="utf-8") as handle:
            for p in ordered:
                handle.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
        with open(tmp / "entries.jsonl", "w", encoding="utf-8") as handle:
            for entry in sorted(entries.values(), key=lambda e: e.id):
                handle.write(json.dumps(_entry_to_json(entry), ensure_ascii=False) + "\n")
        LexicalIndex().build(entry_documents(entries.values())).save(tmp)
        if head is not None:
            head.save(tmp)
        manifest = Manifest(
            embedding_model=model_name, dimension=dimension, kb_version=kb_version,
            entry_count=len(entries), phrasing_count=len(phrasings), checksum=_checksum(tmp),
            created_at=time.time(), snapshot=name, answer_threshold=calibrated.threshold,
            lexical_weight=lexical_weight, calibration=asdict(calibrated),
            entry_head=head is not None, head_weight=HEAD_WEIGHT if head is not None else 0.0,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        os.replace(tmp, self.snapshots_dir / name)
        self._switch_to(name)
        self._prune(keep=name)
        return manifest

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
