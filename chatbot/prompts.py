"""The prompt builder: system rules + numbered entries + recent history + the question.

Pure functions, no model. The default generator is tiny (SmolLM2-135M, 8k context) and weak, so
the prompt is short and literal: entries' answers are trimmed to a character budget, and the rules
are few and direct.

    >>> from knowledge_base.entries import Entry
    >>> from knowledge_base.retriever import Hit
    >>> hit = Hit(Entry("ret", "How do I return an item?", "Within 30 days."), 0.9, "return")
    >>> messages = build_messages(GenerationRequest("Can I return it?", "en", [hit]))
    >>> [m["role"] for m in messages]
    ['system', 'user']
    >>> "[1] Q: How do I return an item?" in messages[0]["content"]
    True
"""

from __future__ import annotations

from chatbot.messages import GenerationRequest
from knowledge_base.hits import Hit

# Characters, not tokens: about 4 characters per token for English, so the defaults keep a prompt
# with 5 entries and 3 turns of history near 1,500 tokens, far inside an 8k context and quick to
# prefill on a CPU.
ANSWERS_CHAR_BUDGET = 3000  # all entries' answers together
MIN_ANSWER_CHARS = 200  # however many entries, each keeps at least this much
MAX_ANSWER_CHARS = 1200  # and at most this much
HISTORY_MESSAGE_CHARS = 500  # per earlier message
QUERY_CHARS = 2000

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


def answer_budget(n_entries: int, total: int = ANSWERS_CHAR_BUDGET) -> int:
    """Characters each entry's answer may keep when `n_entries` share `total`."""
    if n_entries <= 0:
        return MAX_ANSWER_CHARS
    return max(MIN_ANSWER_CHARS, min(MAX_ANSWER_CHARS, total // n_entries))


def format_entries(hits: list[Hit], total_chars: int = ANSWERS_CHAR_BUDGET) -> str:
    """The hits as numbered entries, `[n] Q: … / A: …`, numbered from 1 in the hits' order.

    The numbers are the citation numbers: `[n]` in an answer refers to `hits[n - 1]`.
    """
    limit = answer_budget(len(hits), total_chars)
    blocks = []
    for number, hit in enumerate(hits, start=1):
        question = trim(hit.entry.question, 300)
        answer = trim(hit.entry.answer, limit)
        blocks.append(f"[{number}] Q: {question}\nA: {answer}")
    return "\n\n".join(blocks)


def system_prompt(request: GenerationRequest, total_chars: int = ANSWERS_CHAR_BUDGET) -> str:
    """The rules, then the numbered entries."""
    language = language_name(request.language)
    entries = format_entries(request.hits, total_chars) if request.hits else "(none)"
    return (
        "You are a customer-service assistant. Rules:\n"
        "- Answer ONLY from the numbered entries below. Cite the entry you used like [1].\n"
        f"- Reply in {language}.\n"
        "- Keep it short: 1 to 3 sentences.\n"
        "- If the entries do not answer the question, say that you do not know.\n\n"
        f"Entries:\n{entries}"
    )


def build_messages(
    request: GenerationRequest,
    *,
    answers_chars: int = ANSWERS_CHAR_BUDGET,
    history_chars: int = HISTORY_MESSAGE_CHARS,
) -> list[dict[str, str]]:
    """The chat for `request`: system (rules + entries), the history, then the question.

    History messages keep their roles (only "user" and "assistant": a "system" message in the
    history is dropped, so that earlier text cannot pose as rules) and are trimmed to
    `history_chars` each; how many turns to show is the engine's choice.
    """
    messages = [{"role": "system", "content": system_prompt(request, answers_chars)}]
    for message in request.history:
        if message.role in ("user", "assistant") and message.content.strip():
            messages.append({"role": message.role, "content": trim(message.content, history_chars)})
    messages.append({"role": "user", "content": trim(request.query, QUERY_CHARS)})
    return messages
