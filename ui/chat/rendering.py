"""Turn customer text and engine replies into the Markdown the chat page shows.

The Chatbot component renders Markdown and sanitizes HTML; on top of that, text nobody on staff
wrote (the customer's message, an entry's question inside a link) is escaped here, so that it is
shown exactly as typed instead of being interpreted as markup.

    >>> escape_markdown("<script>alert(1)</script>")
    '&lt;script&gt;alert\\\\(1\\\\)&lt;/script&gt;'
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from chatbot.messages import Citation, Reply
from knowledge_base.storable import storable
from ui.chat.words import words

if TYPE_CHECKING:
    from chatbot.conversations.feed import FeedMessage

# The value of a clarification's "None of these" button (entry ids never take it: the engine reads
# it as "none of the options").
NONE_OF_THESE = "none"

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start markup.
# `<`, `>` and `&` are left to html.escape: a backslash before an entity would show it literally.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def escape_markdown(text: str) -> str:
    """`text` as literal Markdown: punctuation that starts markup is escaped, HTML is entity-encoded."""
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", text), quote=False)


def customer_text(text: str) -> str:
    """The customer's message for display: literal, line breaks kept, storable (a lone surrogate,
    which the page's JSON could not carry, or a NUL shows as U+FFFD, as it is logged)."""
    return escape_markdown(storable(text))


def _safe_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL, made safe inside a Markdown link; else ''."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url.strip(), safe=":/?#[]@!$&'*+,;=%~-._")


def citation_label(citation: Citation) -> str:
    """`[n] Question` as Markdown, the question linked to the entry's page when it has one."""
    question = escape_markdown(citation.question)
    url = _safe_url(citation.url)
    linked = f"[{question}]({url.replace('(', '%28').replace(')', '%29')})" if url else question
    return f"\\[{citation.number}\\] {linked}"


def sources_footer(citations: list[Citation], language: str = "en") -> str:
    """A small "Sources" line (in `language`) listing the cited entries; '' when there are none."""
    if not citations:
        return ""
    labels = " · ".join(citation_label(c) for c in citations)
    return f"<small>{words(language).sources}: {labels}</small>"


def render_reply(reply: Reply) -> str:
    """The answer as the bot's chat bubble shows it: the text, then its sources, labelled in the
    language it answered in.

    An abstention is shown as is: its canned text already offers a member of the support team. A
    clarification's options are buttons (`reply_options`), not text.
    """
    footer = sources_footer(reply.citations, reply.language)
    answer = answer_text(reply.answer)
    return f"{answer}\n\n{footer}" if footer else answer


def answer_text(answer: str) -> str:
    """The bot's answer for display: its Markdown kept (entries may use it), raw HTML shown as
    text (an entry or a model's `<img onerror=…>` is neither run nor drawn)."""
    return html.escape(answer, quote=False)


def reply_options(reply: Reply) -> list[dict[str, str]]:
    """A clarification's options as the chat's buttons (each an entry's question, valued by its
    id), then "None of these"; [] for any other reply."""
    if reply.kind != "clarify" or not reply.options:
        return []
    buttons = [{"value": o.entry_id, "label": storable(o.question)} for o in reply.options]
    return [*buttons, {"value": NONE_OF_THESE, "label": words(reply.language).none_of_these}]


def timestamp(moment: datetime | None = None) -> str:
    """A message's time: a `<time>` the page's script shows in the visitor's own time zone
    (its text, UTC, is what a page without scripts shows)."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f'<time datetime="{moment.isoformat(timespec="seconds")}">{moment:%H:%M}</time>'


def stamped(message: dict[str, Any], moment: datetime | None = None) -> dict[str, Any]:
    """`message` (a chat message dict) with its time appended on a line of its own."""
    return {**message, "content": f"{message['content']}\n\n{timestamp(moment)}"}


def feed_message(message: "FeedMessage", language: str, citations: list[Citation] | None = None) -> dict[str, Any]:
    """A logged message (`chatbot.conversations.feed`) as the chat shows it: the customer's text
    literal, a staff member's literal and signed with their name, the bot's as it answered, with
    the `citations` of its sources."""
    if message.role == "user":
        return stamped({"role": "user", "content": customer_text(message.text)}, message.time)
    if message.author == "staff":
        name = escape_markdown(message.name or "")
        return stamped({"role": "assistant", "content": f"**{name}**\n\n{escape_markdown(message.text)}"},
                       message.time)
    footer = sources_footer(citations or [], language)
    text = answer_text(message.text)
    return stamped({"role": "assistant", "content": f"{text}\n\n{footer}" if footer else text}, message.time)
