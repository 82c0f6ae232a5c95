"""Follow-up questions become standalone queries before retrieval.

"And for express shipping?" after a question about delivery times means "how long does express
shipping take?". Without a model to paraphrase, a message that reads as a follow-up is joined to
the previous customer question: the standalone text shown in the trace is the two together, and
the retriever embeds the follow-up with the earlier question as weaker context, so the fresh
words decide between the entries of the earlier topic.

    >>> follow_up_context("And for express?", [ChatMessage("user", "How long does shipping take?")])
    'How long does shipping take?'
"""

from __future__ import annotations

import re

from chatbot.messages import ChatMessage

_EN_MARKER = re.compile(
    r"^(and|but|also|what about|how about|same for|what if|and if|or|then|else)\b", re.IGNORECASE)
_EN_REFERENCE = re.compile(r"\b(it|that|this|those|them|these|one|there)\b", re.IGNORECASE)
_ZH_MARKER = re.compile(r"^(那|那么|还有|和|如果|换成|另外|也)|呢[？?。!！]*$")
_SHORT_WORDS = 5  # a reference in a message this short leans on the previous turn
_SHORT_CHARS_ZH = 8


def is_follow_up(text: str) -> bool:
    """Whether `text` reads as a continuation of the previous question."""
    stripped = text.strip()
    if _EN_MARKER.search(stripped) or _ZH_MARKER.search(stripped):
        return True
    if re.search(r"[\u4e00-\u9fff]", stripped):
        return False
    return len(stripped.split()) <= _SHORT_WORDS and bool(_EN_REFERENCE.search(stripped))


def follow_up_context(text: str, history: list[ChatMessage]) -> str:
    """The earlier customer question that `text` follows up on, or "" for a standalone one."""
    if not is_follow_up(text):
        return ""
    return next((m.content for m in reversed(history) if m.role == "user"), "")

