"""The prompt builder: system rules + numbered entries + recent history + the question, in budget.

Pure functions, no model. The rules are few and literal (the default generator, SmolLM2-135M, is
tiny): answer only from the numbered entries, cite them as [n], reply in the customer's language,
say so when the entries do not answer.

The prompt must leave room for the answer in the model's context window, so `build_prompt` trims
it to `max_tokens` counted by the generator's own tokenizer (`count_tokens`), in this order:
the oldest history first, then the lowest-ranked entries, then the last entry's answer is cut.
The rules and the question are never dropped; when even they do not fit, `PromptBudgetError`.

    >>> from knowledge_base.entries import Entry
    >>> from knowledge_base.retrieval.retriever import Hit
    >>> hit = Hit(Entry("ret", "How do I return an item?", "Within 30 days."), 0.9, "return")
    >>> messages = build_messages(GenerationRequest("Can I return it?", "en", [hit]))
    >>> [m["role"] for m in messages]
    ['system', 'user']
    >>> "[1] Q: How do I return an item?" in messages[0]["content"]
    True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from chatbot.messages import ChatMessage, GenerationRequest
from knowledge_base.retrieval.hits import Hit

Messages = list[dict[str, str]]
# Tokens of a whole chat as the model reads it: template, special tokens and generation prompt.
TokenCounter = Callable[[Messages], int]

QUESTION_CHARS = 300  # an entry's question in the prompt
HISTORY_MESSAGE_CHARS = 500  # per earlier message: old turns matter less than the entries
QUERY_CHARS = 2000
# Without a tokenizer (`estimate_chat_tokens`): a chat template's markers around each message,
# and the assistant prompt that ends the chat.
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMER_TOKENS = 3
# Chinese, Japanese and Korean characters, with their punctuation and full-width forms.
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff00-\uffef]")


class PromptBudgetError(ValueError):
    """The rules and the question alone do not fit the token budget."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """The chat to send for `request`, and what of the request made it in.

    Built once per turn by a generator's `prompt(request)` and handed to its `stream(prompt)`,
    so the chat is rendered and counted once. `token_ids` is the chat through the model's own
    template, set by a backend that tokenises (the local model), so that it is encoded once too.
    """

    request: GenerationRequest  # what it was built for: the hits it numbers, the answer's token cap
    messages: Messages
    entries: int  # the first `entries` hits are in the prompt, numbered [1] … [entries]
    history: int  # earlier messages kept
    tokens: int | None = None  # as counted against the budget; None when there was none
    truncated: bool = False  # the last entry's answer was cut to fit
    token_ids: tuple[int, ...] | None = None  # the model's input ids; None where not tokenised here

    @property
    def hits(self) -> list[Hit]:
        """The hits the prompt gives the model: the ones its citations [n] can name."""
        return self.request.hits[: self.entries]


# ISO 639-1 codes (what langdetect returns) → the name a model understands.
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian", "it": "Italian",
    "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish",
    "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}


def language_name(code: str) -> str:
    """The English name of a language code: "zh-cn" → "Chinese"; unknown codes come back as given.

    An empty code means English, the language of the rules themselves.
    """
    code = (code or "").strip()
    if not code:
        return "English"
    base = code.lower().replace("_", "-").split("-")[0]
    return LANGUAGE_NAMES.get(base, code)


def trim(text: str, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters ("…" marks a cut)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    ends_a_word = text[len(cut)] == " "
    if not ends_a_word and space > limit // 2:  # a word boundary close enough to the limit
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def estimate_tokens(text: str) -> int:
    """Tokens of `text` where no tokenizer is at hand (a remote backend, the API's usage figures):
    the one estimate of the code base, which `estimate_chat_tokens` builds on.

    Two per Chinese/Japanese/Korean character, one per 3 other characters. On the high side, so
    that an estimated prompt fits the real window: SmolLM2's tokenizer, made for English, reads the
    demo KB's answers as 0.22 tokens per character in English and 1.57 in Chinese (models trained
    on Chinese use fewer)."""
    cjk = len(_CJK.findall(text))
    return math.ceil(cjk * 2 + (len(text) - cjk) / 3)


def estimate_chat_tokens(messages: Messages) -> int:
    """`estimate_tokens` over a chat, with the template's markers around each message."""
    return sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages) + REPLY_PRIMER_TOKENS


def format_entries(entries: list[tuple[str, str]]) -> str:
    """(question, answer) pairs as numbered entries, `[n] Q: … / A: …`, numbered from 1.

    The numbers are the citation numbers: `[n]` in an answer refers to the n-th hit.
    """
    return "\n\n".join(f"[{n}] Q: {question}\nA: {answer}" for n, (question, answer) in enumerate(entries, 1))


def system_prompt(language: str, entries: list[tuple[str, str]]) -> str:
    """The rules, then the numbered entries (or "(none)")."""
    return (
        "You are a customer-service assistant. Rules:\n"
        "- Answer ONLY from the numbered entries below. Cite the entry you used like [1].\n"
        f"- Reply in {language_name(language)}.\n"
        "- Keep it short: 1 to 3 sentences.\n"
        "- If the entries do not answer the question, say that you do not know.\n\n"
        f"Entries:\n{format_entries(entries) if entries else '(none)'}"
    )


def _render(language: str, entries: list[tuple[str, str]], history: list[ChatMessage], query: str) -> Messages:
    return [{"role": "system", "content": system_prompt(language, entries)},
            *({"role": m.role, "content": m.content} for m in history),
            {"role": "user", "content": query}]


def build_prompt(request: GenerationRequest, *, max_tokens: int | None = None,
                 count_tokens: TokenCounter = estimate_chat_tokens,
                 history_chars: int = HISTORY_MESSAGE_CHARS) -> Prompt:
    """The chat for `request` — system (rules + entries), the history, the question — trimmed so
    that `count_tokens(messages) <= max_tokens` (no limit when `max_tokens` is None).

    History keeps its roles (only "user" and "assistant": a "system" message in the history is
    dropped, so that earlier text cannot pose as rules), each message cut to `history_chars`;
    how many turns to pass is the engine's choice. Raises `PromptBudgetError` when the rules,
    the question and the top entry's question alone exceed `max_tokens`.
    """
    if max_tokens is not None and max_tokens < 1:
        raise PromptBudgetError(f"no room for a prompt: the token budget is {max_tokens}")
    language, query = request.language, trim(request.query, QUERY_CHARS)
    history = [ChatMessage(m.role, trim(m.content, history_chars)) for m in request.history
               if m.role in ("user", "assistant") and m.content.strip()]
    entries = [(trim(h.entry.question, QUESTION_CHARS), " ".join(h.entry.answer.split())) for h in request.hits]

    def fits(candidate: list[tuple[str, str]]) -> int | None:
        """The prompt's tokens with `candidate` as the entries; None when over the budget."""
        if max_tokens is None:
            return 0
        tokens = count_tokens(_render(language, candidate, history, query))
        return tokens if tokens <= max_tokens else None

    tokens = fits(entries)
    while tokens is None and history:
        history.pop(0)
        while history and history[0].role != "user":  # templates want the user to speak first
            history.pop(0)
        tokens = fits(entries)
    truncated = False
    while tokens is None:
        if not entries:
            raise PromptBudgetError(f"the rules and the question alone exceed {max_tokens} tokens")
        question, answer = entries[-1]
        if fits([*entries[:-1], (question, "…")]) is None:
            if len(entries) == 1:
                raise PromptBudgetError(f"the rules, the question and the top entry's question "
                                        f"exceed {max_tokens} tokens")
            entries.pop()  # the lowest-ranked entry goes
            tokens = fits(entries)
            continue
        # The last entry fits with an empty answer: keep as much of its answer as fits.
        low, high = 0, len(answer)  # fits with trim(answer, low) characters; not with high
        while high - low > 1:
            middle = (low + high) // 2
            if fits([*entries[:-1], (question, trim(answer, middle))]) is None:
                high = middle
            else:
                low = middle
        entries[-1] = (question, trim(answer, low))
        tokens, truncated = fits(entries), True
    return Prompt(request, _render(language, entries, history, query), len(entries), len(history),
                  tokens if max_tokens is not None else None, truncated)


def build_messages(request: GenerationRequest, *, max_tokens: int | None = None,
                   count_tokens: TokenCounter = estimate_chat_tokens,
                   history_chars: int = HISTORY_MESSAGE_CHARS) -> Messages:
    """`build_prompt(...).messages`: the chat to send, as chat templates want it."""
    return build_prompt(request, max_tokens=max_tokens, count_tokens=count_tokens,
                        history_chars=history_chars).messages
