"""Lexical retrieval: BM25 over every phrasing and answer of the knowledge base (`bm25s`).

Dense retrieval wins on paraphrases; BM25 wins where the exact word matters: product names and
codes ("XR-200", "WELCOME10"), and Chinese with an English embedder. `knowledge_base.retrieval.fusion`
combines the two rankings.

Tokenisation works for mixed English/Chinese text: NFKC (full-width letters and digits become
ASCII), lowercase; Latin-script words lose English stopwords and are stemmed (Snowball, through
PyStemmer); codes such as "XR-200" also yield their joined form "xr200", so "XR200" finds them;
runs of Chinese characters become their characters and character bigrams (or, optionally, jieba
words: its dictionary loads on first use, about 1 s). What was chosen is saved with the index, so a
loaded index tokenises queries exactly as it tokenised its documents.

    >>> index = LexicalIndex().build([("returns", "How do I return an item?"),
    ...                               ("returns-zh", "怎么退货？"), ("returns-zh", "我想退货")])
    >>> index.search("退货", k=3)  # (entry id, BM25 score of its best document)
    [('returns-zh', 0.56...)]

Files written by `save(folder)` (next to index.faiss in a snapshot): `lexical.json` (settings and
the document → entry mapping, written last) and bm25s's arrays and vocabulary as `lexical.*`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import bm25s

    from knowledge_base.entries import Entry

FORMAT = 1
MANIFEST = "lexical.json"
_BM25_FILES = {  # bm25s's own save/load, under names that cannot clash with the snapshot's files
    "data_name": "lexical.data.npy",
    "indices_name": "lexical.indices.npy",
    "indptr_name": "lexical.indptr.npy",
    "vocab_name": "lexical.vocab.json",
    "params_name": "lexical.params.json",
    "nnoc_name": "lexical.nonoccurrence.npy",
}
# Han ideographs (basic, extension A, compatibility). Japanese kana and Hangul are left to the
# word pattern: they are rare in our knowledge bases and have no segmenter here.
_CJK_RUN = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
# A word, or a code whose parts are joined by - _ . / ("xr-200", "usb-c", "64.20").
_WORD = re.compile(r"[^\W_]+(?:[-_./][^\W_]+)*")
_PARTS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class TokenizerSettings:
    """How text becomes BM25 terms; saved with the index.

    `chinese`: "bigram" (each character and each overlapping pair of characters; the default:
    no dictionary, and top-1 0.61 against jieba's 0.45 on the demo Chinese test set) or "jieba"
    (dictionary words; needs the optional `jieba` package).
    `stem`: English Snowball stemming of Latin-script words (needs PyStemmer).
    `stopwords`: drop English stopwords and bm25s's Chinese ones (single characters and jieba
    words; pairs are kept: they are rarely all function words).
    """

    chinese: str = "bigram"
    stem: bool = True
    stopwords: bool = True

    def __post_init__(self) -> None:
        if self.chinese not in ("jieba", "bigram"):
            raise ValueError(f"chinese must be 'jieba' or 'bigram', not {self.chinese!r}")


_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba():
    """One quiet jieba tokenizer of our own (the global one may carry other code's words)."""
    with _jieba_lock:
        try:
            import jieba
        except ImportError as error:
            raise RuntimeError("chinese='jieba' needs the jieba package: pip install jieba") from error
        jieba.setLogLevel(logging.WARNING)  # it logs the dictionary loading at DEBUG to stderr
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()  # deterministic: a fixed dictionary and a Viterbi search
        return tokenizer


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer  # PyStemmer
    except ImportError as error:  # pragma: no cover - PyStemmer is a dependency
        raise RuntimeError("stemming needs the PyStemmer package: pip install PyStemmer") from error
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=4)
def _stopwords(chinese: bool) -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN

    return frozenset(STOPWORDS_CHINESE) if chinese else frozenset(STOPWORDS_EN)


class TextTokenizer:
    """Text → list of BM25 terms, for English, Chinese and both mixed (see the module doc)."""

    def __init__(self, settings: TokenizerSettings | None = None) -> None:
        self.settings = settings or TokenizerSettings()

    def __call__(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text or "").lower()
        tokens: list[str] = []
        for i, run in enumerate(_CJK_RUN.split(text)):
            if run:
                tokens.extend(self._chinese(run) if i % 2 else self._latin(run))
        return tokens

    def _latin(self, text: str) -> list[str]:
        stop = _stopwords(False) if self.settings.stopwords else frozenset()
        words: list[str] = []
        codes: list[str] = []
        for match in _WORD.finditer(text):
            token = match.group()
            parts = [token] if token.isalnum() else _PARTS.findall(token)
            if len(parts) > 1:
                codes.append("".join(parts))  # "xr-200" → also "xr200"; never stemmed
            # Single letters carry nothing alone ("i", the "c" of "usb-c"); single digits do.
            words.extend(p for p in parts if (len(p) > 1 or p.isdigit()) and p not in stop)
        if self.settings.stem and words:
            words = _stemmer().stemWords(words)  # numbers come back unchanged
        return words + codes

    def _chinese(self, run: str) -> list[str]:
        stop = _stopwords(True) if self.settings.stopwords else frozenset()
        if self.settings.chinese == "jieba":
            return [w for w in _jieba().lcut(run) if w.strip() and w not in stop]
        # Characters carry meaning alone (退, 钱, 卡); pairs catch the words ("订单" in "我的订单").
        return [c for c in run if c not in stop] + [run[i:i + 2] for i in range(len(run) - 1)]


class LexicalIndex:
    """BM25 over documents that each belong to an entry; a search returns entries, each scored
    by its best document.

    `k1` and `b` are BM25's (Lucene variant): term-frequency saturation and length normalisation.
    """

    def __init__(self, settings: TokenizerSettings | None = None, k1: float = 1.5, b: float = 0.75) -> None:
        self.settings = settings or TokenizerSettings()
        self.k1 = k1
        self.b = b
        self.tokenize = TextTokenizer(self.settings)
        self._bm25: "bm25s.BM25 | None" = None
        self._entry_ids: list[str] = []  # distinct entry ids, in first-seen order
        # Documents are indexed grouped by entry: document i belongs to _entry_ids[_doc_entry[i]],
        # and an entry's documents start at _starts[entry], so one reduceat finds each best.
        self._doc_entry = np.zeros(0, dtype=np.int64)
        self._starts = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        """The number of documents indexed."""
        return int(self._doc_entry.size)

    @property
    def entry_ids(self) -> list[str]:
        return list(self._entry_ids)

    def build(self, docs: Sequence[tuple[str, str]]) -> "LexicalIndex":
        """Index `docs`, (entry_id, text) pairs (an entry may have many); replaces any earlier
        index. Returns self."""
        import bm25s

        position: dict[str, int] = {}
        for entry_id, _ in docs:
            position.setdefault(entry_id, len(position))
        grouped = sorted(docs, key=lambda doc: position[doc[0]])  # stable: keeps each entry's order
        self._entry_ids = list(position)
        self._set_doc_entries(np.array([position[e] for e, _ in grouped], dtype=np.int64))
        corpus = [self.tokenize(text) for _, text in grouped]
        self._bm25 = None
        if any(corpus):  # bm25s cannot index a corpus without a single term
            self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            self._bm25.index(corpus, show_progress=False)
        return self

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        """The `k` best entries sharing a term with `query`: (entry_id, BM25 score of its best
        document), best first; ties keep indexing order. Empty when nothing matches."""
        if self._bm25 is None or k <= 0:
            return []
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in self.tokenize(query) if t in vocab]
        if not ids:
            return []
        best = np.maximum.reduceat(self._bm25.get_scores_from_ids(ids), self._starts)
        found = np.flatnonzero(best > 0)
        if len(found) > k:  # keep the k best (and any tied with the k-th) before sorting
            found = found[best[found] >= np.partition(best[found], len(found) - k)[len(found) - k]]
        order = found[np.argsort(-best[found], kind="stable")][:k]
        return [(self._entry_ids[i], float(best[i])) for i in order]

    def _set_doc_entries(self, doc_entry: np.ndarray) -> None:
        self._doc_entry = doc_entry
        self._starts = np.flatnonzero(np.r_[True, doc_entry[1:] != doc_entry[:-1]]) if doc_entry.size \
            else np.zeros(0, dtype=np.int64)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (created if needed); `lexical.json` is written last."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False, **_BM25_FILES)
        manifest = {
            "format": FORMAT,
            "tokenizer": asdict(self.settings),
            "k1": self.k1,
            "b": self.b,
            "empty": self._bm25 is None,
            "entry_ids": self._entry_ids,
            "doc_entries": self._doc_entry.tolist(),
        }
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        tmp.replace(folder / MANIFEST)

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> "LexicalIndex":
        """Load what `save` wrote into `folder`; `mmap` maps bm25s's arrays instead of reading them."""
        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{folder / MANIFEST}: unknown lexical index format {manifest.get('format')!r}")
        index = cls(TokenizerSettings(**manifest["tokenizer"]), k1=manifest["k1"], b=manifest["b"])
        index._entry_ids = list(manifest["entry_ids"])
        index._set_doc_entries(np.array(manifest["doc_entries"], dtype=np.int64))
        if not manifest["empty"]:
            import bm25s

            index._bm25 = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False, **_BM25_FILES)
        return index


def entry_documents(entries: Iterable["Entry"], answers: bool = True) -> list[tuple[str, str]]:
    """The documents of `entries` for `LexicalIndex.build`: each phrasing, then the answer."""
    docs: list[tuple[str, str]] = []
    for entry in entries:
        docs.extend((entry.id, text) for text in entry.phrasings)
        if answers and entry.answer.strip():
            docs.append((entry.id, entry.answer))
    return docs
