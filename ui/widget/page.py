"""The page the widget frames (`GET /widget/chat`): plain HTML whose script (`static/frame.js`)
talks to the HTTP API, and its security headers.

Everything the server tells the page (the words, the suggested questions, the site's title and
greeting) travels as JSON in a non-executed `<script type="application/json">` block, with `<`
escaped, and the page's script puts it on screen with `textContent` only: no server text is ever
parsed as HTML. The Content-Security-Policy allows nothing but this server's own files, and
`frame-ancestors` exactly the site's origins.

    >>> html = frame_html(config)
    >>> headers = frame_headers(site.origins)
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict

from ui.chat.words import LANGUAGES, page_language, words
from ui.widget.words import widget_words

DEFAULT_COLOR = "#2563eb"
_COLOR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
TITLE_CHARS, GREETING_CHARS = 80, 500
POLL_MS = 2500  # how often the page asks for staff replies: fast enough to feel live, light on the server


def frame_language(asked: str | None, accept_language: str | None) -> str:
    """`data-language` when it is one of ours, else the browser's Accept-Language choice."""
    asked = (asked or "").strip().lower().split("-")[0]
    return asked if asked in LANGUAGES else page_language(accept_language)


def frame_config(site_key: str, session: str, origin: str, language: str, suggestions: list[str],
                 max_message_chars: int, title: str | None, greeting: str | None, color: str | None) -> dict:
    """What the framed page's script needs, as JSON (the site's data attributes trimmed to size;
    a colour that is not #rgb or #rrggbb is the default)."""
    return {
        "site_key": site_key, "session": session, "origin": origin, "language": language,
        "words": {code: {**asdict(words(code)), **asdict(widget_words(code))} for code in LANGUAGES},
        "suggestions": suggestions, "max_message_chars": max_message_chars, "poll_ms": POLL_MS,
        "title": (title or "").strip()[:TITLE_CHARS], "greeting": (greeting or "").strip()[:GREETING_CHARS],
        "color": color if color and _COLOR.fullmatch(color) else DEFAULT_COLOR,
    }


def _json_in_html(value: dict) -> str:
    # Inside <script> only "</" could end the block; escaping every "<" (and the line separators
    # JavaScript once disliked) keeps any text inert.
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def frame_html(config: dict) -> str:
    """The framed page: a header, the messages, the composer; the script fills them in."""
    return f"""<!doctype html>
<html lang="{html.escape(config['language'])}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat</title>
<link rel="stylesheet" href="/widget/frame.css">
<script type="application/json" id="widget-config">{_json_in_html(config)}</script>
<script src="/widget/frame.js" defer></script>
</head>
<body>
<header id="head"><div class="avatar" aria-hidden="true"></div><div class="who"><div id="title"></div>
<div id="status"></div></div><button id="close" type="button" aria-label="Close">&#x2715;</button></header>
<main id="messages" aria-live="polite"></main>
<div id="notice" hidden></div>
<form id="composer" autocomplete="off"><textarea id="input" rows="1"></textarea>
<button id="send" type="submit"></button></form>
</body>
</html>
"""


def refused_html(message: str) -> str:
    """The page a refused load gets (shown only where it is not framed: it may not be framed)."""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Chat unavailable</title></head>'
            f'<body><p>{html.escape(message)}</p></body></html>')


def frame_headers(origins: tuple[str, ...] | None) -> dict[str, str]:
    """Security headers of the framed page: only this server's files, framed only by `origins`
    (None: a refused load, framed by nobody)."""
    ancestors = " ".join(origins) if origins else "'none'"
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
              f"frame-ancestors {ancestors}")
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
