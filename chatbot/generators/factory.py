"""Generator name (the `generator` setting) → a generator instance. Nothing loads here.

    >>> create_generator("extractive", Path("/tmp/models"), "cpu", 160).name
    'extractive'
    >>> create_generator("local", Path("/tmp/models"), "cpu", 160).name
    'local:smollm2'
    >>> create_generator("openai:http://gpu-box:8000/v1", Path("/tmp/models"), remote=RemoteOptions("qwen")).name
    'openai:qwen@http://gpu-box:8000/v1'
"""

from __future__ import annotations

import re
from pathlib import Path

from chatbot.generators.base import Generator
from chatbot.generators.batching import BatchingOptions
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.generators.local import SHIPPED_MODELS, LocalGenerator
from chatbot.generators.remote import RemoteGenerator, RemoteOptions

# A Hugging Face repo id: "name" or "owner/name", letters, digits, "-", "_", "."; at most 96 chars.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHOICES = ("'extractive', 'local' (the shipped SmolLM2), a Hugging Face model id, a local model folder "
            "or 'openai:<base-url>'")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1 or name.endswith(".gguf")


def create_generator(name: str, models_dir: Path, device: str = "auto", max_new_tokens: int = 160,
                     remote: RemoteOptions | None = None,
                     batching: BatchingOptions | None = BatchingOptions()) -> Generator:
    """The generator that `name` selects; raises ValueError, naming the choices, for a bad name.

    `batching` sizes the continuous batching of a local model (None: one request at a time).

    "extractive" → `ExtractiveGenerator`; "local" or "smollm2" → the shipped SmolLM2; an existing
    folder or `.gguf` file, or a hub id ("HuggingFaceTB/SmolLM2-360M-Instruct") → `LocalGenerator`;
    "openai:<base-url>" → `RemoteGenerator` with the `remote` options (model, key, timeout, retries).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"generator is empty: use {_CHOICES}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    key = name.strip()
    if key.lower() == "extractive":
        return ExtractiveGenerator()
    if key.lower() in ("local", *SHIPPED_MODELS):
        shipped = "smollm2" if key.lower() == "local" else key.lower()
        return LocalGenerator(shipped, Path(models_dir), device, max_new_tokens, batching=batching)
    if key.lower().startswith("openai:"):
        return RemoteGenerator(key[len("openai:"):], remote or RemoteOptions(), max_new_tokens)
    path = Path(key).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".gguf"):
        return LocalGenerator(str(path), Path(models_dir), device, max_new_tokens, batching=batching)
    if _looks_like_path(key):
        raise ValueError(f"generator {key!r}: no such model folder or .gguf file")
    if len(key) > 96 or not _HUB_ID.match(key) or ".." in key or "--" in key:
        raise ValueError(f"generator {key!r} is not a known generator, a folder or a model id: use {_CHOICES}")
    return LocalGenerator(key, Path(models_dir), device, max_new_tokens, batching=batching)
