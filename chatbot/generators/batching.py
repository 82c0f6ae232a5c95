"""Continuous batching: concurrent customers' answers are decoded together, each streamed to its caller.

transformers' `ContinuousBatchingManager` runs one generation loop per model. At every step it
admits waiting requests, computes one token for every request in flight (prompts packed side by
side, no padding) and drops the finished and cancelled ones, so a request that arrives while
others generate joins them at the next step instead of queueing behind them. Checked here with
the shipped SmolLM2 on CPU (transformers 5.23) and with a model of its shape on an H100 (5.17):
it streams each request's tokens, greedy answers equal those generated alone, and with CUDA graphs
one request runs 1.3-2.6x raw `generate` while 8 concurrent requests run ~7x one at a time. On a
CPU, without flash attention, a step attends over every request's tokens, so with prompts of a few
hundred tokens batching interleaves customers without raising throughput (docs/measurements.md).

What this module adds for serving:
- sizing: the KV cache is allocated (and zeroed) when the model loads, so its size is a setting
  in tokens instead of transformers' default of 90 % of free memory;
- routing: the manager has one output queue for all requests; a dispatcher thread hands each
  output to its request's own queue, so every caller reads only its tokens, in order;
- cancellation: a caller that stops (its answer's line ended, its client left) cancels its own
  request; the others carry on;
- exit: the loop is started from a daemon thread (threads inherit that flag) and stopped by an
  `atexit` hook, so a process that never calls `stop()` still exits, and cleanly.

    >>> batcher = ContinuousBatcher(model, BatchingOptions(max_batch_size=8, cache_tokens=8192))
    >>> batcher.start()
    >>> for new_ids in batcher.submit(prompt_ids, max_new_tokens=64):
    ...     print(tokenizer.decode(new_ids))

torch and transformers are imported inside methods only: `import chatbot` must stay light.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import math
import queue
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from knowledge_base.embedding.devices import is_cuda

log = logging.getLogger(__name__)

# Tokens one forward pass may take in: long prompts are prefilled in chunks of this size. Without
# flash attention each step builds a mask of chunk x (cache + chunk) values, so the chunk is kept
# small where memory is dear (CPU) and larger on a GPU, where it shortens time to first token.
PREFILL_CHUNK_TOKENS = {"cpu": 512, "gpu": 2048}
# How often a waiting caller checks that the generation loop is still alive, in seconds.
LIVENESS_SECONDS = 1.0

# Batchers whose loop runs. A loop still running when the interpreter finalises aborts the process
# ("terminate called without an active exception", exit code 134), so they are stopped at exit.
_RUNNING: weakref.WeakSet[ContinuousBatcher] = weakref.WeakSet()


@atexit.register
def _stop_running_batchers() -> None:
    for batcher in list(_RUNNING):
        batcher.stop(timeout=5.0)


@dataclass(frozen=True)
class BatchingOptions:
    """How many requests share a decoding step, and the KV cache they share (prompt + answer tokens).

    The cache is allocated when the model loads: for SmolLM2-135M in float32 that is 45 KB per
    token (8192 tokens: 377 MB). Requests that do not fit wait until earlier ones finish.
    """

    max_batch_size: int = 8
    cache_tokens: int = 8192

    def __post_init__(self) -> None:
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be a positive integer, not {self.max_batch_size!r}")
        if not isinstance(self.cache_tokens, int) or self.cache_tokens < 256:
            raise ValueError(f"cache_tokens must be an integer of at least 256, not {self.cache_tokens!r}")


class GenerationFailed(RuntimeError):
    """The generation loop failed this request (or died); the message says why."""


class TokenStream:
    """One request's generated token ids, in order: iterating yields lists of the new ids.

    Ends after the end-of-sequence token (included) or `max_new_tokens`. `cancel()` (or leaving a
    `with` block) stops the request in the generation loop; it is safe to call more than once.
    """

    def __init__(self, batcher: ContinuousBatcher, request_id: str, inbox: queue.Queue):
        self.request_id = request_id
        self._batcher = batcher
        self._inbox = inbox
        self._seen = 0
        self._done = False

    def __iter__(self) -> Iterator[list[int]]:
        return self

    def __next__(self) -> list[int]:
        while not self._done:
            try:
                output = self._inbox.get(timeout=LIVENESS_SECONDS)
            except queue.Empty:
                self._batcher.check_alive()
                continue
            if isinstance(output, BaseException):
                self._finish()
                raise output
            if getattr(output, "error", None):
                self._finish()
                raise GenerationFailed(f"generation failed: {output.error}")
            # Each output holds every token generated so far; the caller gets the new ones.
            tokens = list(output.generated_tokens)
            new, self._seen = tokens[self._seen :], len(tokens)
            if output.is_finished():
                self._finish()
            if new:
                return new
        raise StopIteration

    def cancel(self) -> None:
        """Stop generating for this request; the other requests are not affected."""
        if not self._done:
            self._finish()
            self._batcher.cancel(self.request_id)

    def _finish(self) -> None:
        self._done = True
        self._batcher.forget(self.request_id)

    def __enter__(self) -> TokenStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class ContinuousBatcher:
    """One model's continuous-batching loop, shared by every caller of `submit` (any thread).

    `model` is a loaded transformers causal LM (its device and dtype are kept). Decoding is greedy,
    without repetition penalty; a request ends at the model's end-of-sequence token(s) or at its
    `max_new_tokens`. Other stop conditions (a newline) are the caller's: read, then `cancel()`.
    """

    def __init__(self, model: Any, options: BatchingOptions | None = None):
        self.model = model
        self.options = options or BatchingOptions()
        self._manager: Any = None
        self._lock = threading.Lock()
        self._inboxes: dict[str, queue.Queue] = {}
        self._ids = itertools.count()
        self._dispatcher: threading.Thread | None = None
        self._page_size = 256
        self.capacity_tokens = 0  # what the cache holds, in whole pages; set by start()

    # ---- life cycle ----

    def start(self) -> None:
        """Allocate the cache and start the generation loop and the dispatcher; safe to repeat."""
        with self._lock:
            if self._manager is not None and self._manager.is_running():
                return
            self._manager = self._create_manager()
            # The loop's thread inherits its daemon flag from the thread that starts it.
            starter = threading.Thread(target=self._manager.start, name="batching-start", daemon=True)
            starter.start()
            starter.join()
            # The loop allocates the cache as it starts: wait, so that it happens during warm-up.
            deadline = time.monotonic() + 120
            while (getattr(self._manager, "batch_processor", None) is None and self._manager.is_running()
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            self._dispatcher = threading.Thread(
                target=self._dispatch, args=(self._manager,), name="batching-dispatch", daemon=True
            )
            self._dispatcher.start()
            _RUNNING.add(self)
        log.info("continuous batching: %d requests per step, cache of %d tokens on %s",
                 self.options.max_batch_size, self.capacity_tokens, self.model.device)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop (requests in flight fail) and free the cache; `start()` may follow."""
        with self._lock:
            manager, self._manager = self._manager, None
            _RUNNING.discard(self)
        if manager is not None:
            try:  # a hard stop ends the loop after its current step instead of finishing every request
                manager.stop(block=True, timeout=timeout, hard_stop=True)
            except TypeError:  # transformers without `hard_stop`
                manager.stop(block=True, timeout=timeout)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=timeout)
        self._fail_all(GenerationFailed("the generation loop was stopped"))

    def _create_manager(self) -> Any:
        from transformers import GenerationConfig
        from transformers.generation import ContinuousBatchingConfig

        defaults = ContinuousBatchingConfig()
        # Tokens per cache block: `page_size` in recent transformers, `block_size` in older ones.
        self._page_size = int(getattr(defaults, "page_size", None) or getattr(defaults, "block_size", 256))
        num_blocks = math.ceil(self.options.cache_tokens / self._page_size)
        self.capacity_tokens = num_blocks * self._page_size
        on_cuda = is_cuda(self.model.device)
        chunk = PREFILL_CHUNK_TOKENS["gpu" if self.model.device.type != "cpu" else "cpu"]
        config = ContinuousBatchingConfig(
            num_blocks=num_blocks,
            max_batch_tokens=min(chunk, self.capacity_tokens),
            max_requests_per_batch=self.options.max_batch_size,
            # CUDA graphs replay each decoding step's kernels at once: on an H100 one request of
            # a SmolLM2-sized model ran 1.3-2.6x raw `generate` with them, 0.7-0.9x without.
            use_cuda_graph=on_cuda,
        )
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.model.config.eos_token_id
        generation = GenerationConfig(
            do_sample=False, max_new_tokens=64, eos_token_id=eos if eos is not None else -1,
            pad_token_id=self.model.generation_config.pad_token_id,
        )
        manager = self.model.init_continuous_batching(generation_config=generation,
                                                      continuous_batching_config=config)
        if on_cuda:
            manager.warmup()  # captures the CUDA graphs now rather than on the first customer
        return manager

    # ---- requests ----

    def submit(self, input_ids: Sequence[int], max_new_tokens: int) -> TokenStream:
        """Queue a prompt (token ids); returns the stream of its generated ids.

        Raises ValueError when the prompt is empty or prompt + answer cannot fit in the cache.
        """
        ids = [int(i) for i in input_ids]
        if not ids:
            raise ValueError("the prompt is empty: nothing to generate from")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, not {max_new_tokens!r}")
        self.start()  # idempotent; restarts a loop that died
        if len(ids) + max_new_tokens > self.capacity_tokens:
            raise ValueError(
                f"a prompt of {len(ids)} tokens plus {max_new_tokens} new tokens does not fit the "
                f"generation cache of {self.capacity_tokens} tokens: raise the cache setting "
                "(CHATBOT_GENERATION_CACHE_TOKENS) or shorten the prompt"
            )
        request_id = f"chat-{next(self._ids)}"
        inbox: queue.Queue = queue.Queue()
        with self._lock:
            manager = self._manager
            self._inboxes[request_id] = inbox
        try:
            accepted = manager.add_request(ids, request_id=request_id, max_new_tokens=max_new_tokens,
                                           streaming=True)
        except BaseException:
            self.forget(request_id)
            raise
        if accepted is None:  # the manager refused it (stopping)
            self.forget(request_id)
            raise GenerationFailed("the generation loop is not accepting requests")
        return TokenStream(self, request_id, inbox)

    def cancel(self, request_id: str) -> None:
        """Drop `request_id` from the loop; outputs already on their way are discarded."""
        self.forget(request_id)
        manager = self._manager
        if manager is not None:
            manager.cancel_request(request_id)

    def forget(self, request_id: str) -> None:
        """Stop routing outputs to `request_id` (it finished, failed or was cancelled)."""
        with self._lock:
            self._inboxes.pop(request_id, None)

    def check_alive(self) -> None:
        """Raise GenerationFailed if the generation loop is gone (crashed or stopped)."""
        manager = self._manager
        if manager is None or not manager.is_running():
            raise GenerationFailed("the generation loop stopped")

    # ---- the dispatcher thread ----

    def _dispatch(self, manager: Any) -> None:
        """Hand each output to its request's inbox until `manager` stops; then fail the waiting."""
        while True:
            output = manager.get_result(timeout=0.1)
            if output is None:
                if not manager.is_running():
                    break
                continue
            with self._lock:
                inbox = self._inboxes.get(output.request_id)
            if inbox is not None:  # None: a cancelled request's late output
                inbox.put(output)
        if self._manager is manager:  # crashed rather than stopped
            log.error("the continuous-batching loop stopped unexpectedly; it restarts on the next request")
            with self._lock:
                self._manager = None
            self._fail_all(GenerationFailed("the generation loop stopped unexpectedly"))

    def _fail_all(self, error: BaseException) -> None:
        with self._lock:
            inboxes, self._inboxes = list(self._inboxes.values()), {}
        for inbox in inboxes:
            inbox.put(error)

