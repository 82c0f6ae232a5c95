"""Index kinds by size (flat, HNSW, IVF), their manifest, memory-mapped loading, and deletes with
a graph that cannot remove vectors. Real shipped embedder, real snapshots on disk."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import faiss

from chatbot.settings import Settings
from knowledge_base.index import ann
from knowledge_base.entries import Entry
from knowledge_base.index.writer import IndexStore
from knowledge_base.retrieval.retriever import Retriever
from knowledge_base.index.sync import sync_index

DEMO = Path(__file__).resolve().parents[3] / "knowledge_base" / "demo"


@pytest.fixture(autouse=True)
def _follow_new_snapshots_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("knowledge_base.retrieval.retriever.REFRESH_SECONDS", 0.0)


@pytest.fixture(scope="module")
def demo_kb(embedder) -> tuple[list[Entry], np.ndarray, list[tuple[str, np.ndarray]]]:
    """The demo FAQ's English entries, their phrasing vectors, and the held-out English questions
    (in scope) with their vectors: embedded once for every index kind."""
    entries = [Entry(row["id"], row["question"], row["answer"], row["alternates"], language="en")
               for row in map(json.loads, (DEMO / "shop_faq.jsonl").read_text().splitlines())
               if row["language"] == "en"]
    vectors = embedder.encode([t for e in entries for t in e.phrasings])
    tests = [json.loads(line) for line in (DEMO / "testset_en.jsonl").read_text().splitlines()]
    queries = [t["query"] for t in tests if t["expected_id"]]
    return entries, vectors, list(zip(queries, embedder.encode(queries)))


def test_auto_is_exact_for_small_knowledge_bases_and_hnsw_from_the_threshold(
        shop_entries, tmp_path: Path, repository, embedder) -> None:
    assert ann.choose_spec("auto", ann.HNSW_MIN_PHRASINGS - 1).kind == "flat"
    assert ann.choose_spec("auto", ann.HNSW_MIN_PHRASINGS).kind == "hnsw"
    assert ann.choose_spec("auto", 5_000_000).params["efSearch"] > ann.choose_spec("auto", 50_000).params["efSearch"]
    repository.upsert(shop_entries)
    store = IndexStore(tmp_path / "index")  # "auto" by default
    manifest = sync_index(repository, store, embedder)
    assert (manifest.index_type, manifest.index_params, manifest.tombstones) == ("flat", {}, 0)
    snap = store.load()
    assert isinstance(faiss.downcast_index(snap.index.index), faiss.IndexFlatIP)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_an_approximate_index_finds_the_same_top_entry_as_exact_search(tmp_path: Path, demo_kb, embedder,
                                                                       kind: str) -> None:
    entries, vectors, queries = demo_kb
    top1 = {}
    for index_type in ("flat", kind):
        store = IndexStore(tmp_path / index_type, index_type=index_type)
        store.rebuild_from_vectors(entries, vectors, 1, "all-MiniLM-L6-v2")
        retriever = Retriever(store, embedder)
        top1[index_type] = [retriever.search_vector(vector, 1)[0].entry.id for _, vector in queries]
    assert len(queries) > 100
    assert top1[kind] == top1["flat"]
    assert store.read_manifest().index_type == kind


def test_the_manifest_records_the_index_kind_and_parameters(shop_entries, tmp_path: Path, embedder) -> None:
    hnsw = IndexStore(tmp_path / "hnsw", index_type="hnsw")
    manifest = hnsw.rebuild(shop_entries, 1, embedder)
    assert manifest.index_type == "hnsw"
    assert manifest.index_params == {"M": ann.HNSW_M, "efConstruction": ann.HNSW_EF_CONSTRUCTION,
                                     "efSearch": ann.HNSW_EF_SEARCH[0][1]}
    on_disk = json.loads((hnsw.snapshots_dir / manifest.snapshot / "manifest.json").read_text())
    assert on_disk["index_type"] == "hnsw" and on_disk["index_params"] == manifest.index_params
    snap = hnsw.load()  # held: the graph below belongs to its index
    graph = faiss.downcast_index(snap.index.index)
    assert isinstance(graph, faiss.IndexHNSWFlat) and graph.metric_type == faiss.METRIC_INNER_PRODUCT
    assert (graph.hnsw.efSearch, graph.hnsw.efConstruction) == (manifest.index_params["efSearch"],
                                                                manifest.index_params["efConstruction"])

    many = [Entry(f"e{i}", f"Question number {i}?", "An answer.", [f"variant {i}", f"another {i}"])
            for i in range(30)]
    ivf = IndexStore(tmp_path / "ivf", index_type="ivf")
    manifest = ivf.rebuild(many, 1, embedder)
    assert manifest.index_type == "ivf" and manifest.index_params == {"nlist": 2, "nprobe": 2}
    assert ivf.load().index.nprobe == 2
    assert ann.choose_spec("ivf", 1_000_000).params == {"nlist": 4096, "nprobe": 64}
    # Too few phrasings to train even one IVF cell: exact search, and the manifest says so.
    assert IndexStore(tmp_path / "tiny", index_type="ivf").rebuild(shop_entries, 1, embedder).index_type == "flat"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_snapshots_load_memory_mapped_with_the_same_results(tmp_path: Path, demo_kb, kind: str, caplog) -> None:
    entries, vectors, queries = demo_kb
    store = IndexStore(tmp_path / "index", index_type=kind)
    manifest = store.rebuild_from_vectors(entries, vectors, 1, "all-MiniLM-L6-v2")
    assert manifest.mmap is True
    with caplog.at_level(logging.INFO, logger="knowledge_base.index.snapshot"):
        mapped = store.load()
    assert mapped.mmapped and "memory-mapped" in caplog.text
    if sys.platform.startswith("linux"):  # the kernel's own list of this process's mappings
        maps = Path("/proc/self/maps").read_text()
        assert str(mapped.path / "index.faiss") in maps
    copied = store.load(mmap=False)
    assert not copied.mmapped
    batch = np.stack([vector for _, vector in queries[:20]])
    assert np.array_equal(mapped.search(batch, 10)[1], copied.search(batch, 10)[1])


def test_without_mmap_support_the_index_is_read_into_memory(shop_entries, tmp_path: Path, embedder,
                                                            monkeypatch, caplog) -> None:
    store = IndexStore(tmp_path / "index")
    store.rebuild(shop_entries, 1, embedder)
    monkeypatch.setattr(ann, "can_mmap", lambda: False)  # as on Windows, or a FAISS before 1.11
    with caplog.at_level(logging.INFO, logger="knowledge_base.index.snapshot"):
        snap = store.load()
    assert not snap.mmapped and "read into memory" in caplog.text
    assert Retriever(store, embedder).search("Can I pay with PayPal?", 1)[0].entry.id == "payment"


def _found(retriever: Retriever, vector: np.ndarray) -> list[str]:
    """Every entry id the dense search returns for `vector` (asking for all of them)."""
    return [hit.entry.id for hit in retriever.search_vector(vector, k=1000)]


def test_deleted_entries_are_never_returned_by_an_hnsw_index(shop_entries, tmp_path: Path, repository,
                                                             embedder) -> None:
    filler = [Entry(f"filler-{i}", f"Filler question {i}?", "Filler.", [f"filler phrasing {i}"])
              for i in range(40)]
    repository.upsert(shop_entries + filler)
    store = IndexStore(tmp_path / "index", index_type="hnsw")
    sync_index(repository, store, embedder)
    retriever = Retriever(store, embedder)
    paypal = embedder.encode(["Can I pay with PayPal?"])[0]
    assert _found(retriever, paypal)[0] == "payment"

    repository.delete(["payment"])
    repository.upsert([Entry("returns", "Can I return an item?", "Within 60 days now.", ["refund please"])])
    manifest = sync_index(repository, store, embedder)
    # payment's 2 phrasings and returns' 3 old ones stay in the graph as tombstones...
    assert manifest.tombstones == 5
    assert store.load().index.ntotal == manifest.phrasing_count + 5
    # ...and no search returns them, whatever it asks for: FAISS itself skips them, so they
    # take no place among the results.
    snap = store.load()
    assert len(snap.tombstones) == 5
    scores, ids = snap.search(paypal, snap.index.ntotal)
    assert not set(ids[0].tolist()) & set(snap.tombstones.tolist())
    assert (ids[0] >= 0).sum() == manifest.phrasing_count
    assert "payment" not in _found(retriever, paypal)
    hits = retriever.search_vector(embedder.encode(["What is your return policy?"])[0], k=1000)
    assert {h.phrasing for h in hits if h.entry.id == "returns"} <= {"Can I return an item?", "refund please"}
    assert "payment" not in [h.entry.id for h in retriever.search("PayPal payment methods", k=10)]

    # Past the tombstone limit the graph is rebuilt from its stored vectors, without them.
    repository.delete([f"filler-{i}" for i in range(10)])
    manifest = sync_index(repository, store, embedder)
    assert manifest.tombstones == 0
    snap = store.load()
    assert snap.index.ntotal == manifest.phrasing_count == len(snap.phrasings)
    assert "payment" not in _found(retriever, paypal)
    assert _found(retriever, embedder.encode(["filler phrasing 25"])[0])[0] == "filler-25"


def test_an_ivf_index_removes_deleted_vectors(shop_entries, tmp_path: Path, repository, embedder) -> None:
    filler = [Entry(f"filler-{i}", f"Filler question {i}?", "Filler.", [f"filler phrasing {i}"])
              for i in range(40)]
    repository.upsert(shop_entries + filler)
    store = IndexStore(tmp_path / "index", index_type="ivf")
    assert sync_index(repository, store, embedder).index_type == "ivf"
    repository.delete(["payment"])
    manifest = sync_index(repository, store, embedder)
    assert (manifest.index_type, manifest.tombstones) == ("ivf", 0)
    assert store.load().index.ntotal == manifest.phrasing_count
    assert "payment" not in _found(Retriever(store, embedder), embedder.encode(["Can I pay with PayPal?"])[0])


def test_a_new_index_type_setting_rebuilds_from_stored_vectors(shop_entries, tmp_path: Path, repository,
                                                               embedder, monkeypatch) -> None:
    repository.upsert(shop_entries)
    sync_index(repository, IndexStore(tmp_path / "index"), embedder)
    before = Retriever(IndexStore(tmp_path / "index"), embedder).search("I forgot my password", 4)

    def no_embedding(*args, **kwargs):
        raise AssertionError("nothing should be re-embedded")

    monkeypatch.setattr(embedder, "encode", no_embedding)
    store = IndexStore(tmp_path / "index", index_type="hnsw")
    manifest = sync_index(repository, store, embedder)
    assert (manifest.index_type, manifest.kb_version) == ("hnsw", 1)
    assert sync_index(repository, store, embedder).snapshot == manifest.snapshot  # nothing left to do
    monkeypatch.undo()
    after = Retriever(store, embedder).search("I forgot my password", 4)
    assert [(h.entry.id, round(h.score, 5)) for h in after] == [(h.entry.id, round(h.score, 5)) for h in before]


def test_a_bad_index_type_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'annoy' is not one of auto, flat, hnsw, ivf"):
        IndexStore(tmp_path / "index", index_type="annoy")
    with pytest.raises(ValidationError, match="index_type\n.*'auto', 'flat', 'hnsw' or 'ivf'"):
        Settings(home=tmp_path, index_type="annoy")
    assert Settings(home=tmp_path, index_type=" HNSW ").index_type == "hnsw"


def test_vectors_that_do_not_match_the_phrasings_are_refused(shop_entries, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="11 phrasings but vectors of shape \\(3, 384\\)"):
        IndexStore(tmp_path / "index").rebuild_from_vectors(shop_entries, np.zeros((3, 384)), 1, "m")


def test_a_snapshot_written_before_index_kinds_still_loads(shop_entries, tmp_path: Path, embedder) -> None:
    store = IndexStore(tmp_path / "index")
    manifest = store.rebuild(shop_entries, 1, embedder)
    path = store.snapshots_dir / manifest.snapshot / "manifest.json"
    old = json.loads(path.read_text())
    for key in ("index_params", "tombstones", "mmap"):
        del old[key]
    path.write_text(json.dumps({**old, "index_type": "IDMap2,Flat,IP"}))
    snap = store.load()
    assert snap.manifest.spec == ann.IndexSpec("flat") and not snap.mmapped
    assert Retriever(store, embedder).search("I forgot my password", 1)[0].entry.id == "password"
    assert not store.needs_reshape(snap.manifest)


def test_a_large_graph_build_shows_its_progress_and_its_errors(monkeypatch, capsys) -> None:
    monkeypatch.setattr(ann, "ADD_BATCH", 10)  # "large" from 10 vectors, so the test stays small
    vectors = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    spec = ann.choose_spec("hnsw", 50)
    index = ann.build_index(spec, 8, vectors, np.arange(50), progress=True)
    assert index.ntotal == 50 and "Building a graph of 50 vectors" in capsys.readouterr().err
    # A failure inside the building thread reaches the caller.
    with pytest.raises(AssertionError):
        ann.build_index(spec, 8, vectors, np.arange(49), progress=True)


def test_a_single_query_leaves_the_threads_openmp_setting_as_it_found_it(shop_entries, tmp_path: Path,
                                                                         embedder) -> None:
    """Single queries search on one OpenMP thread, and give the setting back: other OpenMP work on
    the thread shares it (left at one, the same question's scores differed in their last bits from
    one call to the next)."""
    store = IndexStore(tmp_path / "index")
    store.rebuild(shop_entries, 1, embedder)
    snap = store.load()
    queries = embedder.encode(["How long does shipping take?", "I forgot my password"])
    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(2)
        one_by_one = [snap.search(query, 3) for query in queries]
        assert faiss.omp_get_max_threads() == 2
        scores, ids = snap.search(queries, 3)
        for row, (single_scores, single_ids) in enumerate(one_by_one):
            assert single_ids[0].tolist() == ids[row].tolist()
            np.testing.assert_allclose(single_scores[0], scores[row], rtol=1e-5)
    finally:
        faiss.omp_set_num_threads(threads)
