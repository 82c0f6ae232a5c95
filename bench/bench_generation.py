"""Generation speed of the local backend against raw `model.generate`, measured in one run.

On the same prompts (a customer question with three FAQ entries of the demo knowledge base,
through the model's chat template, greedy), prints one table:
  - `--concurrency` requests at once (threads) against the same requests one at a time, both
    through the backend (target >= 3x on a GPU);
  - one request at a time: tokens/s and time to first token of `LocalGenerator.stream` (the
    product's path: continuous batching, streaming, one line) against raw `model.generate` with a
    `TextIteratorStreamer` and the same stop rule (target >= 0.95x), the two taking turns;
  - the process's peak RSS while it serves the concurrent requests (and the GPU's peak memory);
  - whether each answer is the raw greedy answer, alone and when batched.

    python bench/bench_generation.py [--model smollm2|FOLDER|HUB_ID] [--device auto]
                                     [--new-tokens 64] [--concurrency 8]

Needs only torch, transformers, numpy, tqdm, psutil and safetensors besides the standard library
and this repository: it runs on a GPU machine that has nothing else (nothing heavier is imported
here or by the modules it uses; tests/chatbot/generators/test_batching.py checks). The shipped "smollm2" is
converted from its GGUF once, which needs the `gguf` package; elsewhere pass `--model` a folder
converted before (e.g. a copy of `CHATBOT_HOME/models/smollm2-135m-instruct`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a plain checkout, without installing the project

from chatbot.generators.batching import BatchingOptions  # noqa: E402
from chatbot.generators.local import LocalGenerator, first_line  # noqa: E402
from chatbot.messages import GenerationRequest  # noqa: E402
from chatbot.stages.prompts import build_messages  # noqa: E402
from knowledge_base.embedding.devices import resolve_device  # noqa: E402
from knowledge_base.entries import Entry  # noqa: E402
from knowledge_base.retrieval.hits import Hit  # noqa: E402

FAQ = ROOT / "knowledge_base" / "demo" / "shop_faq.jsonl"
# Customer questions, each with the entry that answers it first and two near misses, as retrieval
# would hand them over.
QUESTIONS = [
    ("Where can I see where my parcel is?", ["orders-track", "shipping-delayed", "orders-not-received"]),
    ("How many days do I have to send something back?", ["returns-window", "returns-how-to", "returns-gift"]),
    ("Is delivery free if I spend enough?", ["shipping-free-threshold", "shipping-costs", "shipping-express"]),
    ("Can I still cancel what I ordered yesterday?", ["orders-cancel", "orders-modify-items", "returns-how-to"]),
    ("Which cards and wallets can I pay with?", ["payments-methods", "payments-instalments", "payments-gift-cards"]),
    ("I forgot my password, what now?", ["account-password-reset", "account-locked", "account-2fa"]),
    ("When does my money come back after a return?", ["returns-refund-timing", "returns-refund-method", "returns-window"]),
    ("Do you deliver to other countries?", ["shipping-international", "shipping-customs", "returns-international"]),
]


def build_requests(count: int, new_tokens: int) -> list[GenerationRequest]:
    """`count` requests, cycling through QUESTIONS."""
    entries = {}
    for line in FAQ.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        entries[row["id"]] = Entry(row["id"], row["question"], row["answer"])
    requests = []
    for i in range(count):
        question, ids = QUESTIONS[i % len(QUESTIONS)]
        hits = [Hit(entries[e], 0.9 - 0.1 * rank, entries[e].question) for rank, e in enumerate(ids)]
        requests.append(GenerationRequest(question, "en", hits, max_new_tokens=new_tokens))
    return requests


class PeakRss:
    """Samples this process's resident memory every 20 ms while in a `with` block."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def timed_stream(pieces: Callable[[], Any]) -> tuple[str, float, float]:
    """(text, seconds to the first piece, seconds in all) of iterating `pieces()`."""
    started = time.perf_counter()
    first = None
    parts = []
    for piece in pieces():
        if first is None:
            first = time.perf_counter() - started
        parts.append(piece)
    total = time.perf_counter() - started
    return "".join(parts), first if first is not None else total, total


class RawGenerate:
    """The baseline: plain `model.generate` on a model of its own, with the product's stop rule."""

    def __init__(self, source: str, device: str, new_tokens: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        choice = resolve_device(device)
        self.new_tokens = new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModelForCausalLM.from_pretrained(source, dtype=choice.torch_dtype(),
                                                          attn_implementation="sdpa").to(choice.device).eval()
        self._torch = torch

    def run(self, request: GenerationRequest) -> dict:
        """Text, seconds to the first piece and in all, and tokens generated, for `request`."""
        from transformers import TextIteratorStreamer

        from chatbot.generators.local import _line_end_criteria_class

        torch, tokenizer = self._torch, self.tokenizer
        ids = tokenizer.apply_chat_template(build_messages(request), add_generation_prompt=True,
                                            tokenize=True, return_dict=True)["input_ids"]
        input_ids = torch.tensor([ids], device=self.model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        # The product's stop rule (first newline after text, or the end token), greedy.
        criteria = _line_end_criteria_class()(tokenizer, len(ids), threading.Event())
        output: list[Any] = []

        def run() -> None:
            with torch.inference_mode():
                output.append(self.model.generate(
                    input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer,
                    max_new_tokens=self.new_tokens, do_sample=False, temperature=None, top_p=None,
                    top_k=None, repetition_penalty=None, stopping_criteria=[criteria],
                    pad_token_id=tokenizer.pad_token_id,
                ))

        def pieces() -> Any:
            thread = threading.Thread(target=run)
            thread.start()
            yield from streamer
            thread.join()

        text, first, total = timed_stream(pieces)
        return {"text": first_line(text), "first": first, "total": total,
                "tokens": int(output[0].shape[1]) - len(ids)}

    def close(self) -> None:
        del self.model
        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def backend_run(generator: LocalGenerator, request: GenerationRequest) -> dict:
    text, first, total = timed_stream(lambda: generator.stream(request))
    return {"text": text, "first": first, "total": total}


def concurrent_runs(generator: LocalGenerator, requests: list[GenerationRequest]) -> tuple[list[dict], float]:
    """All requests through `generator.stream` at once, one thread each; (results, wall seconds)."""
    results: list[dict] = [{} for _ in requests]
    start = threading.Barrier(len(requests))

    def one(i: int) -> None:
        start.wait()
        results[i] = backend_run(generator, requests[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def decode_rate(rows: list[dict], raw: list[dict]) -> float:
    """Tokens/s between each answer's first piece and its end (prefill left out)."""
    return sum(r["tokens"] - 1 for r in raw) / max(sum(r["total"] - r["first"] for r in rows), 1e-9)


def add_model_arguments(parser: argparse.ArgumentParser, device: str = "auto", new_tokens: int = 64) -> None:
    """--model, --device, --new-tokens and --models-dir: the local generator's, for every bench
    that runs it."""
    parser.add_argument("--model", default="smollm2", help="'smollm2' (shipped), a model folder or a hub id")
    parser.add_argument("--device", default=device, help="auto, cpu, or a GPU device name (see resolve_device)")
    parser.add_argument("--new-tokens", type=int, default=new_tokens, help="cap on each answer's tokens")
    parser.add_argument("--models-dir", type=Path,
                        default=Path(os.environ.get("CHATBOT_HOME", Path.home() / ".local/share/chatbot")) / "models",
                        help="where the shipped GGUF is converted (default: CHATBOT_HOME/models)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=8, help="requests served at once")
    args = parser.parse_args()
    if args.new_tokens < 1 or args.concurrency < 1:
        parser.error("--new-tokens and --concurrency must be at least 1")

    import torch
    from tqdm.auto import tqdm

    requests = build_requests(args.concurrency, args.new_tokens)
    generator = LocalGenerator(args.model, args.models_dir, args.device, args.new_tokens,
                               batching=BatchingOptions(max_batch_size=args.concurrency,
                                               cache_tokens=args.concurrency * 2048))
    generator.warm_up()
    generator.generate(requests[0])  # first call: allocation, lazy initialisation
    on_cuda = generator.device_choice.is_cuda
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    # Concurrent first, while the backend's model is the only one in memory.
    with PeakRss() as rss:
        together, together_wall = concurrent_runs(generator, requests)
    gpu_peak = torch.cuda.max_memory_allocated() if on_cuda else 0
    # Then one at a time, the backend and the baseline taking turns to go first, so that a
    # change in the machine's load falls on both.
    baseline = RawGenerate(generator.model_source(), args.device, args.new_tokens)
    baseline.run(requests[0])  # warm-up
    raw, alone = [], []
    for i, request in enumerate(tqdm(requests, desc="one at a time", unit="request")):
        if i % 2:
            alone.append(backend_run(generator, request))
            raw.append(baseline.run(request))
        else:
            raw.append(baseline.run(request))
            alone.append(backend_run(generator, request))
    baseline.close()
    generator.close()

    # Equal greedy answers have equal token counts; the raw run counted them.
    tokens = sum(r["tokens"] for r in raw)
    raw_rate = tokens / sum(r["total"] for r in raw)
    alone_rate = tokens / sum(a["total"] for a in alone)
    together_rate = tokens / together_wall
    same_alone = sum(a["text"] == r["text"] for a, r in zip(alone, raw))
    same_together = sum(t["text"] == r["text"] for t, r in zip(together, raw))
    ms = lambda rows: 1000 * statistics.median(r["first"] for r in rows)  # noqa: E731
    device = torch.cuda.get_device_name() if on_cuda else f"CPU, {torch.get_num_threads()} torch threads"
    n = len(requests)
    print(f"\nmodel {args.model} on {generator.device_choice.device} ({generator.device_choice.dtype_name}), "
          f"{device}; batching {'on' if generator.batched else 'OFF (unavailable)'}; {n} prompts, "
          f"{tokens} answer tokens in all (cap {args.new_tokens} each)\n")
    print("| measure | local backend | baseline | ratio |")
    print("|---|---|---|---|")
    print(f"| one request at a time: tokens/s | {alone_rate:.1f} | raw `generate`: {raw_rate:.1f} | "
          f"{alone_rate / raw_rate:.2f}x |")
    print(f"| one request at a time: time to first token, p50 | {ms(alone):.0f} ms | raw `generate`: "
          f"{ms(raw):.0f} ms | {ms(alone) / ms(raw):.2f}x |")
    decode, raw_decode = decode_rate(alone, raw), decode_rate(raw, raw)
    print(f"| one request at a time: tokens/s after the first | {decode:.1f} | raw `generate`: "
          f"{raw_decode:.1f} | {decode / raw_decode:.2f}x |")
    print(f"| {n} concurrent requests: tokens/s | {together_rate:.1f} | one at a time: {alone_rate:.1f} | "
          f"{together_rate / alone_rate:.2f}x |")
    print(f"| {n} concurrent requests: time to first token, p50 | {ms(together):.0f} ms | one at a time: "
          f"{ms(alone):.0f} ms | |")
    peak_gpu = f"; GPU peak {gpu_peak / 2**20:,.0f} MB" if on_cuda else ""
    print(f"| peak RSS while serving the {n} concurrent requests | {rss.peak / 2**20:,.0f} MB{peak_gpu} | | |")
    print(f"| answers equal to raw greedy: alone / concurrent | {same_alone}/{n} / {same_together}/{n} | | |")


if __name__ == "__main__":
    main()
