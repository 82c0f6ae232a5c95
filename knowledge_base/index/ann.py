"""The FAISS index inside a snapshot, chosen by the knowledge base's size.

Three kinds, all inner product over unit vectors (= cosine), all keyed by the snapshot's vector ids:

- ``flat``: exact search (``IndexIDMap2`` over ``IndexFlatIP``). Every query scans every vector:
  cheap for small knowledge bases, and exact, so their results never depend on tuning.
- ``hnsw``: a navigable graph (``IndexIDMap2`` over ``IndexHNSWFlat``): a query visits a few
  hundred vectors instead of all of them. A graph cannot forget a vector, so a deleted phrasing
  stays in it as a *tombstone* that every search filters out (an ``IDSelector``), until
  tombstones pass `TOMBSTONE_LIMIT` of the index and the graph is rebuilt from the stored vectors
  (nothing is re-embedded).
- ``ivf``: an inverted file (``IndexIVFFlat``): a query scans the `nprobe` of `nlist` k-means
  cells nearest to it. Removes natively; smallest memory (the vectors and their ids).

``auto`` picks flat below `HNSW_MIN_PHRASINGS` phrasings and HNSW from there on, by measurement
(`python bench/bench_scale.py --crossover`, docs/measurements.md "Scale"): on this project's
2-core CPU a single-threaded flat search costs 0.09 ms per 1,000 phrasings up to 10,000 (0.9 ms,
3 % of embedding the query), then grows faster (4.3 ms at 20,000, 9.8 ms at 50,000) as the vectors
outgrow the CPU's caches, while HNSW answers in 0.06-0.09 ms at recall@10 0.99 and builds in
seconds, a small part of embedding the same phrasings.

Single queries search on one OpenMP thread (`Snapshot.search`): an OpenMP parallel region waits
for all its threads, and on a machine whose cores are busy with other work a thread can wait a
whole scheduler slice (about 30 ms measured here, against 0.1-2 ms of work). The setting is the
calling thread's own (OpenMP keeps it per thread), so other threads are not affected.

The chosen kind and its parameters (M, efConstruction, efSearch / nlist, nprobe) are written to
the snapshot's manifest; search-time parameters are applied from there when a snapshot loads.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
# "auto" switches from exact search to HNSW at this many phrasings (see the module doc).
HNSW_MIN_PHRASINGS = 10_000
# Graph degree and build effort: the cheapest to build of those measured (M 16/32 x efConstruction
# 40/80), which matters on a CPU, where building a 1M-phrasing graph takes minutes; a larger
# efSearch makes up its recall for a fraction of a millisecond per search. Links cost M*2*4 bytes
# a vector at the bottom layer: 128 bytes, +8 % on 384-d float vectors (M=32: +17 %).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
# efSearch by index size (up to this many phrasings → efSearch), each chosen so that recall@10
# against exact search stays above 0.95 (docs/measurements.md "Scale"): 0.977 at 100k phrasings
# with 96; at 1M, 0.956 with 256 and 0.966 with 384, so 512. The product asks for 40 phrasings a
# search, so efSearch is never below 40 in effect.
HNSW_EF_SEARCH = ((200_000, 96), (2_000_000, 512), (math.inf, 1024))

# IVF: about 4 * sqrt(n) cells (a power of two), each trained on >= 39 points as FAISS asks;
# a query probes 1/64 of them, at least 8 (recall@10 0.998 at 100k phrasings, 1024 cells).
IVF_PROBE_SHARE = 64
IVF_MIN_PROBES = 8
IVF_MIN_POINTS_PER_CELL = 39
IVF_TRAIN_POINTS_PER_CELL = 64
# Rebuild an HNSW graph once this share of its vectors are tombstones: each one costs every
# search a little, and a graph full of holes finds fewer true neighbours.
TOMBSTONE_LIMIT = 0.10
ADD_BATCH = 20_000  # vectors per add() call, so the progress bar moves on large indexes


def validate_index_type(value: str) -> str:
    """`value` if it names an index type, else a ValueError listing the valid ones."""
    if value not in INDEX_TYPES:
        raise ValueError(f"index type {value!r} is not one of {', '.join(INDEX_TYPES)}")
    return value


@dataclass(frozen=True)
class IndexSpec:
    """An index kind and its parameters, as recorded in a snapshot's manifest."""

    kind: str  # "flat", "hnsw" or "ivf"
    params: dict[str, int] = field(default_factory=dict)

    # Parameters fixed when the index is built; the others only steer searches.
    _BUILD_PARAMS = ("M", "efConstruction", "nlist")

    def same_structure(self, other: "IndexSpec") -> bool:
        """Whether `other` is served by the same built index (only search parameters differ)."""
        return self.kind == other.kind and all(
            self.params.get(p) == other.params.get(p) for p in self._BUILD_PARAMS)


def choose_spec(index_type: str, count: int) -> IndexSpec:
    """The index for `count` phrasings under the `index_type` setting ("auto" decides by size)."""
    kind = validate_index_type(index_type)
    if kind == "auto":
        kind = "hnsw" if count >= HNSW_MIN_PHRASINGS else "flat"
    if kind == "hnsw":
        ef = next(ef for limit, ef in HNSW_EF_SEARCH if count <= limit)
        return IndexSpec("hnsw", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": ef})
    if kind == "ivf" and count >= IVF_MIN_POINTS_PER_CELL:  # fewer cannot train one cell: flat
        target = 4 * math.sqrt(max(count, 1))
        nlist = 1 << max(0, round(math.log2(target)))
        nlist = max(1, min(nlist, count // IVF_MIN_POINTS_PER_CELL))
        nprobe = min(nlist, max(IVF_MIN_PROBES, nlist // IVF_PROBE_SHARE))
        return IndexSpec("ivf", {"nlist": nlist, "nprobe": nprobe})
    return IndexSpec("flat")


def build_index(spec: IndexSpec, dimension: int, vectors: np.ndarray, ids: np.ndarray,
                progress: bool = False) -> "faiss.Index":
    """A new index of `spec` holding `vectors` (unit rows) under `ids` (int64)."""
    import faiss

    if spec.kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    elif spec.kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, spec.params["M"], faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = spec.params["efConstruction"]
        index = faiss.IndexIDMap2(graph)
    elif spec.kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, spec.params["nlist"],
                                   faiss.METRIC_INNER_PRODUCT)
        _train_ivf(index, vectors, spec.params["nlist"])
        # Reconstructing a vector by id (calibration, exact scores of BM25 finds) needs this map.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
    else:
        raise ValueError(f"unknown index kind {spec.kind!r}")
    configure(index, spec)
    add_vectors(index, vectors, ids, progress)
    return index


def _train_ivf(index: "faiss.IndexIVFFlat", vectors: np.ndarray, nlist: int) -> None:
    if len(vectors) < nlist:
        raise ValueError(f"an IVF index of {nlist} cells needs at least {nlist} vectors to train on")
    # k-means needs a sample, not everything: 64 points a cell (FAISS warns below 39 and caps at
    # 256); its cost grows with sample x nlist, minutes at 1M phrasings on a 2-core CPU.
    sample = min(len(vectors), IVF_TRAIN_POINTS_PER_CELL * nlist)
    rows = np.random.default_rng(0).choice(len(vectors), sample, replace=False) if sample < len(vectors) \
        else slice(None)
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))


def add_vectors(index: "faiss.Index", vectors: np.ndarray, ids: np.ndarray, progress: bool = False) -> None:
    """Add `vectors` under `ids`, with a progress bar on large additions."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    show = progress and len(ids) >= ADD_BATCH
    if _is_hnsw(index):
        # One call: FAISS inserts a batch's upper-layer nodes before its lower ones, and a graph
        # added in 20k-vector batches lost recall (0.981 -> 0.959 at 300k, 0.973 -> 0.915 at 1M).
        _while_ticking(lambda: index.add_with_ids(vectors, ids),
                       f"Building a graph of {len(ids):,} vectors", show)
        return
    with tqdm(total=len(ids), desc="Indexing vectors", unit="vector", disable=not show) as bar:
        for start in range(0, len(ids), ADD_BATCH):
            index.add_with_ids(vectors[start:start + ADD_BATCH], ids[start:start + ADD_BATCH])
            bar.update(min(ADD_BATCH, len(ids) - start))


def _is_hnsw(index: "faiss.Index") -> bool:
    import faiss

    return (isinstance(index, faiss.IndexIDMap2)
            and isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW))


def _while_ticking(work, description: str, show: bool) -> None:
    """Run `work` (a FAISS call, which releases the GIL) with a bar that shows the time elapsed:
    FAISS reports no progress of its own."""
    if not show:
        work()
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)

    worker = threading.Thread(target=run, name="faiss-build")
    with tqdm(desc=description, bar_format="{desc}: {elapsed}") as bar:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
            bar.refresh()
    if failure:
        raise failure[0]


def configure(index: "faiss.Index", spec: IndexSpec) -> None:
    """Apply `spec`'s search parameters (efSearch, nprobe) to a built or loaded index."""
    import faiss

    if spec.kind == "hnsw":
        faiss.downcast_index(index.index).hnsw.efSearch = spec.params["efSearch"]
    elif spec.kind == "ivf":
        index.nprobe = spec.params["nprobe"]


def remove_vectors(index: "faiss.Index", spec: IndexSpec, ids: np.ndarray) -> bool:
    """Remove `ids` from the index; False for HNSW, which cannot (they become tombstones)."""
    import faiss

    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if spec.kind == "hnsw" or ids.size == 0:
        return spec.kind != "hnsw"
    if spec.kind == "ivf":  # its id hashtable only removes through an explicit id array
        index.remove_ids(faiss.IDSelectorArray(ids.size, faiss.swig_ptr(ids)))
    else:
        index.remove_ids(faiss.IDSelectorBatch(ids))
    return True


def tombstones(index: "faiss.Index", spec: IndexSpec, live_ids: np.ndarray) -> np.ndarray:
    """The ids an HNSW index still holds that are not in `live_ids` (none for other kinds)."""
    import faiss

    if spec.kind != "hnsw":
        return np.zeros(0, dtype=np.int64)
    return np.setdiff1d(faiss.vector_to_array(index.id_map), live_ids, assume_unique=True)


class TombstoneFilter:
    """Search parameters that hide deleted ids; holds the FAISS objects they point to."""

    def __init__(self, spec: IndexSpec, deleted: np.ndarray) -> None:
        import faiss

        self._deleted = np.ascontiguousarray(deleted, dtype=np.int64)
        self._batch = faiss.IDSelectorBatch(self._deleted)
        self._selector = faiss.IDSelectorNot(self._batch)  # keeps a raw pointer to _batch
        self.params = faiss.SearchParametersHNSW()
        self.params.efSearch = spec.params["efSearch"]  # the parameters replace the index's own
        self.params.sel = self._selector


def can_mmap() -> bool:
    """Whether this FAISS can map an index file instead of reading it (IO_FLAG_MMAP_IFC, 1.11+;
    its mapping code is POSIX mmap)."""
    import faiss

    return hasattr(faiss, "IO_FLAG_MMAP_IFC") and sys.platform != "win32"


def read_index(path: Path, mmap: bool) -> tuple["faiss.Index", bool]:
    """Load an index file; with `mmap`, map it where FAISS can. Returns the index and whether it
    is mapped.

    IO_FLAG_MMAP_IFC maps the bulk of every kind used here in place (flat and HNSW vectors, HNSW
    links, IVF lists), so processes serving one snapshot share one copy in the page cache and
    loading costs no copy; the id maps are still read into memory. (The older IO_FLAG_MMAP only
    maps IVF lists.) A mapped index is read-only: changing it crashes the process, so updates
    load their own, unmapped copy. Anything that fails to map is read normally instead.
    """
    import faiss

    if mmap and can_mmap():
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), True
        except RuntimeError as error:
            log.warning("could not memory-map %s (%s): reading it into memory", path, error)
    return faiss.read_index(str(path)), False


def describe(spec: IndexSpec) -> str:
    """`spec` for logs and the CLI: "hnsw (M=32, efConstruction=40, efSearch=64)"."""
    if not spec.params:
        return spec.kind
    return f"{spec.kind} ({', '.join(f'{k}={v}' for k, v in spec.params.items())})"


def spec_from_manifest(index_type: str, params: dict[str, Any] | None) -> IndexSpec:
    """The spec of a manifest; manifests written before index types existed say "IDMap2,Flat,IP"."""
    kind = "flat" if index_type == "IDMap2,Flat,IP" else index_type
    if kind not in INDEX_TYPES[1:]:
        raise ValueError(f"the snapshot's index type {index_type!r} is unknown: rebuild the index")
    return IndexSpec(kind, dict(params or {}))
