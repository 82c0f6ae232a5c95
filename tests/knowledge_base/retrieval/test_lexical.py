"""BM25 over phrasings and answers: English, Chinese, codes, persistence and empty cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge_base.entries import Entry
from knowledge_base.retrieval.lexical import (
    MANIFEST,
    LexicalIndex,
    TextTokenizer,
    TokenizerSettings,
    entry_documents,
)

ENTRIES = [
    Entry("returns", "How do I return an item?", "Send it back within 30 days of delivery.",
          ["Can I send something back?", "refund for a returned order"]),
    Entry("track", "How do I track my order?", "Go to Account > Orders to see the carrier's tracking link.",
          ["Where is my parcel?"]),
    Entry("xr-200", "Is the XR-200 headset waterproof?", "The XR-200 is rated IPX4: splashes, not swimming.",
          ["XR-200 battery life"]),
    Entry("xr-300", "Is the XR-300 headset waterproof?", "The XR-300 is rated IPX7: it survives a swim.",
          ["XR-300 battery life"]),
    Entry("returns-zh", "怎么退货？", "签收后 30 天内可以申请退货，请在「账户 > 订单」中操作。", ["我想退货", "退款多久到账"]),
    Entry("track-zh", "怎么查询我的订单物流？", "请前往「账户 > 订单」查看物流信息。", ["我的订单到哪了？", "查快递"]),
    Entry("cancel-zh", "怎么取消订单？", "下单后 1 小时内可以自行取消。", ["不想要了能取消吗"]),
]
QUERIES = ["XR-200 battery", "xr200", "can I send my headset back", "退货", "我的订单在哪里", "取消", "cookies"]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex().build(entry_documents(ENTRIES))


def top(index: LexicalIndex, query: str) -> str | None:
    hits = index.search(query, k=3)
    return hits[0][0] if hits else None


def test_english_exact_terms_and_stems(index: LexicalIndex) -> None:
    assert top(index, "returning items") == "returns"  # "return"/"item" after stemming
    assert top(index, "Where is my parcel") == "track"


def test_product_code_matches_exactly_in_any_spelling(index: LexicalIndex) -> None:
    for query in ("XR-200 battery", "xr-200", "XR200", "ＸＲ－２００"):
        hits = index.search(query, k=5)
        assert hits[0][0] == "xr-200", query
        if "xr-300" in dict(hits):  # the sibling shares only "xr" and "battery"
            assert dict(hits)["xr-300"] < hits[0][1]
    assert top(index, "IPX7") == "xr-300"  # a term found only in an answer


def test_chinese_words_are_found(index: LexicalIndex) -> None:
    tokens = TextTokenizer()("我的订单想退货")
    assert "订单" in tokens and "退货" in tokens
    assert "的" not in tokens  # a single-character stopword
    assert top(index, "退货") == "returns-zh"
    assert top(index, "订单到哪里了") == "track-zh"
    assert top(index, "我不想要了，帮我取消") == "cancel-zh"


def test_mixed_text_tokens() -> None:
    tokens = TextTokenizer()("WELCOME10 不适用于我的 usb-c 线")
    assert "welcome10" in tokens and "usbc" in tokens and "usb" in tokens
    assert "c" not in tokens  # lone letters say nothing


def test_results_are_entries_best_first_one_each(index: LexicalIndex) -> None:
    hits = index.search("order", k=10)
    ids = [entry_id for entry_id, _ in hits]
    assert len(ids) == len(set(ids))
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert len(index.search("order", k=1)) == 1
    assert index.search("order", k=0) == []


@pytest.mark.parametrize("query", ["", "   ", "?!。", "the of and", "zzzz unknownword"])
def test_queries_without_known_terms_find_nothing(index: LexicalIndex, query: str) -> None:
    assert index.search(query, k=5) == []


def test_empty_index(tmp_path: Path) -> None:
    for docs in ([], [("a", "the"), ("b", "")]):  # nothing, or nothing but stopwords
        index = LexicalIndex().build(docs)
        assert index.search("the thing", k=5) == []
        index.save(tmp_path / str(len(docs)))
        assert LexicalIndex.load(tmp_path / str(len(docs))).search("the thing", k=5) == []


def test_save_load_round_trip(tmp_path: Path, index: LexicalIndex) -> None:
    (tmp_path / "index.faiss").write_bytes(b"dense index")  # a snapshot's other files stay
    index.save(tmp_path)
    assert (tmp_path / MANIFEST).exists()
    assert (tmp_path / "index.faiss").read_bytes() == b"dense index"
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.settings == index.settings and loaded.entry_ids == index.entry_ids
    assert len(loaded) == len(index)
    for query in QUERIES:
        assert loaded.search(query, k=5) == index.search(query, k=5)
    mapped = LexicalIndex.load(tmp_path, mmap=True)
    assert mapped.search("XR-200", k=3) == index.search("XR-200", k=3)


def test_saved_settings_decide_query_tokenisation(tmp_path: Path) -> None:
    settings = TokenizerSettings(stem=False, stopwords=False)
    LexicalIndex(settings).build([("a", "returning the items"), ("b", "return item")]).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.settings == settings
    assert [e for e, _ in loaded.search("returning", k=5)] == ["a"]  # unstemmed: only the exact word


def test_build_replaces_the_previous_index() -> None:
    index = LexicalIndex().build([("old", "parcel tracking")])
    index.build([("new", "gift cards")])
    assert index.search("parcel", k=5) == [] and top(index, "gift card") == "new"


def test_entry_documents_cover_phrasings_and_answer() -> None:
    docs = entry_documents(ENTRIES[:1])
    assert docs == [("returns", "How do I return an item?"), ("returns", "Can I send something back?"),
                    ("returns", "refund for a returned order"), ("returns", ENTRIES[0].answer)]
    assert len(entry_documents(ENTRIES[:1], answers=False)) == 3


def test_jieba_segmentation_option() -> None:
    pytest.importorskip("jieba")
    tokens = TextTokenizer(TokenizerSettings(chinese="jieba"))("我的订单想退货")
    assert tokens == ["订单", "想", "退货"]
    index = LexicalIndex(TokenizerSettings(chinese="jieba")).build(entry_documents(ENTRIES))
    assert top(index, "退货") == "returns-zh"


def test_unknown_chinese_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="chinese"):
        TokenizerSettings(chinese="mecab")


def test_import_loads_no_search_library() -> None:
    code = ("import sys, knowledge_base.retrieval.lexical, knowledge_base.retrieval.fusion; "
            "print(sorted(m for m in ('bm25s', 'jieba', 'Stemmer', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
