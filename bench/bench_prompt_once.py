"""What building the prompt once per turn saves, against building it twice, measured in one run.

Before, the engine asked the generator for the prompt (to know which entries it gave), then
`stream(request)` built it again: a second render-and-trim whose token count ran the chat template
again, and the ids for the model from a third pass through the template. Now `prompt(request)`
builds, counts and tokenises once and `stream(prompt)` feeds those ids. Both paths run here with
the real local generator (the shipped SmolLM2 unless `--model` says otherwise), on the same
requests (a customer question, three FAQ entries of the demo knowledge base, two earlier turns),
taking turns to go first so that a change in the machine's load falls on both. Prints:
  - ms per turn (prompt + streamed answer) for both paths, the time saved per turn, the ratio;
  - ms spent only building the prompt (render, trim, chat template, tokenisation) for both.

    python bench/bench_prompt_once.py [--model smollm2|FOLDER|HUB_ID] [--device cpu]
                                      [--turns 8] [--new-tokens 16] [--prompt-repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a plain checkout, without installing the project
sys.path.insert(0, str(ROOT / "bench"))

from bench_generation import add_model_arguments, build_requests  # noqa: E402

from chatbot.generators.local import LocalGenerator  # noqa: E402
from chatbot.messages import ChatMessage, GenerationRequest  # noqa: E402
from chatbot.stages.prompts import Prompt  # noqa: E402

PromptPath = Callable[[LocalGenerator, GenerationRequest], Prompt]  # the prompt work of one turn
HISTORY = [ChatMessage("user", "Hi, I have a question about my order."),
           ChatMessage("assistant", "Of course! What would you like to know about your order?")]


def prompt_twice(generator: LocalGenerator, request: GenerationRequest) -> Prompt:
    """The old path's prompt work: the engine's `prompt(request)` (for the entries it gives), then
    `stream(request)` building it again and tokenising the result once more for the model."""
    generator.prompt(request)
    rebuilt = generator.prompt(request)
    return replace(rebuilt, token_ids=tuple(generator.encode_chat(rebuilt.messages)))


def prompt_once(generator: LocalGenerator, request: GenerationRequest) -> Prompt:
    """The new path's prompt work: one `prompt(request)`, whose ids `stream(prompt)` feeds."""
    return generator.prompt(request)


PATHS: dict[str, PromptPath] = {"twice": prompt_twice, "once": prompt_once}


def turn_seconds(generator: LocalGenerator, build: PromptPath, request: GenerationRequest) -> tuple[float, float, str]:
    """(seconds building the prompt, seconds for the whole turn, answer) of one turn."""
    started = time.perf_counter()
    prompt = build(generator, request)
    built = time.perf_counter()
    answer = "".join(generator.stream(prompt))
    return built - started, time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, device="cpu", new_tokens=16)
    parser.add_argument("--turns", type=int, default=8, help="turns per path (cycling through the questions)")
    parser.add_argument("--prompt-repeats", type=int, default=20, help="prompt-only builds per request and path")
    args = parser.parse_args()
    if min(args.turns, args.new_tokens, args.prompt_repeats) < 1:
        parser.error("--turns, --new-tokens and --prompt-repeats must be at least 1")

    import torch

    requests = [replace(r, history=HISTORY) for r in build_requests(args.turns, args.new_tokens)]
    generator = LocalGenerator(args.model, args.models_dir, args.device, args.new_tokens)
    generator.warm_up()
    generator.generate(requests[0])  # first call: allocation, lazy initialisation

    # The prompt alone, many times: milliseconds that a whole turn's noise would hide.
    prompt_ms: dict[str, list[float]] = {name: [] for name in PATHS}
    for i, request in enumerate(requests):
        for name in sorted(PATHS, reverse=bool(i % 2)):
            started = time.perf_counter()
            for _ in range(args.prompt_repeats):
                PATHS[name](generator, request)
            prompt_ms[name].append(1000 * (time.perf_counter() - started) / args.prompt_repeats)

    # Whole turns: the same requests through both paths, taking turns to go first.
    turn_ms: dict[str, list[float]] = {name: [] for name in PATHS}
    answers: dict[str, list[str]] = {name: [] for name in PATHS}
    for i, request in enumerate(requests):
        for name in sorted(PATHS, reverse=bool(i % 2)):
            _, total, answer = turn_seconds(generator, PATHS[name], request)
            turn_ms[name].append(1000 * total)
            answers[name].append(answer)
    generator.close()

    mean = statistics.fmean
    choice = generator.device_choice
    device = torch.cuda.get_device_name() if choice.is_cuda else f"{torch.get_num_threads()} torch threads"
    tokens = mean(len(generator.prompt(r).token_ids) for r in requests)
    print(f"\nmodel {args.model} on {choice.device} ({choice.dtype_name}), {device}; batching "
          f"{'on' if generator.batched else 'off'}; {len(requests)} turns per path, prompts of {tokens:.0f} "
          f"tokens on average, answers capped at {args.new_tokens} tokens\n")
    print("| measure | prompt built once (new) | built twice (old) | saved per turn | old / new |")
    print("|---|---|---|---|---|")
    for label, rows in (("prompt only (render, trim, template, tokenise)", prompt_ms),
                        ("whole turn (prompt + streamed answer)", turn_ms)):
        once, twice = mean(rows["once"]), mean(rows["twice"])
        # The saving as the median of the paired differences (same request, back to back): a
        # shared machine's load swings whole turns by far more than the prompt costs.
        saved = statistics.median(t - o for t, o in zip(rows["twice"], rows["once"]))
        print(f"| {label}, mean | {once:.2f} ms | {twice:.2f} ms | {saved:.2f} ms (paired median) | "
              f"{twice / once:.3f}x |")
    print(f"| the prompt's share of a turn | {mean(prompt_ms['once']) / mean(turn_ms['once']):.3%} | "
          f"{mean(prompt_ms['twice']) / mean(turn_ms['twice']):.3%} | | |")
    same = sum(a == b for a, b in zip(answers["once"], answers["twice"]))
    print(f"| answers equal on both paths | {same}/{len(requests)} | | | |")


if __name__ == "__main__":
    main()
