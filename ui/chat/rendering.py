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
from urllib.parse import quote, urlsplit

from chatbot.messages import Citation, Reply
from knowledge_base.storable import storable

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


def sources_footer(citations: list[Citation]) -> str:
    """A small "Sources" line listing the cited entries; '' when there are none."""
    if not citations:
        return ""
    labels = " · ".join(citation_label(c) for c in citations)
    return f"<small>Sources: {labels}</small>"


def render_reply(reply: Reply) -> str:
    """The answer as the bot's chat bubble shows it: the text, then its sources.

    An abstention is shown as is: its canned text already offers a member of the support team.
    """
    footer = sources_footer(reply.citations)
    return f"{reply.answer}\n\n{footer}" if footer else reply.answer
