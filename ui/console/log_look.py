"""What the conversation pages share (`conversation_pages`, `inbox_pages`): the signed-in bar, the
console's tabs, their extra styles, and how a message, a time or an entry link is shown. Plain
HTML; every value passes `esc`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote

from ui.console.auth import CSRF_FIELD
from ui.console.html import CSP, esc, staff_header

if TYPE_CHECKING:
    from chatbot.staff.sessions import StaffSession

# The inbox's conversation page frames its live message list (same origin only); that list may be
# framed by this origin alone. Neither runs a script: the CSP still allows none.
FRAMING_CSP = CSP.replace("default-src 'none';", "default-src 'none'; frame-src 'self';")
FRAMED_HEADERS = {"Content-Security-Policy": CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
                  "X-Frame-Options": "SAMEORIGIN"}

LOG_STYLE = """<style>
main{max-width:1040px}
nav.tabs{display:flex;gap:6px;flex-wrap:wrap;margin:-8px 0 18px}
nav.tabs a{padding:6px 12px;border-radius:6px;color:#1f2937;text-decoration:none;background:#e5e7eb;font-size:14px}
nav.tabs a.on{background:#1f2937;color:#fff}
a{color:#1d4ed8}
.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:4px 12px;align-items:end}
.filters label{margin:6px 0 2px;font-size:13px}
select,input[type=date],input[type=search],textarea{width:100%;padding:7px 9px;border:1px solid #d1d5db;border-radius:6px;
font:inherit;background:#fff}
select,input[type=date],input[type=search]{height:38px}
textarea{min-height:84px;resize:vertical}
.filters button{margin-top:0}
.actions{display:flex;gap:10px;flex-wrap:wrap;align-items:center;margin-top:12px}
.actions form{margin:0}.actions button{margin:0}
button.quiet{background:#4b5563}button.danger{background:#b91c1c}
.pill{display:inline-block;white-space:nowrap;border-radius:999px;padding:0 8px;font-size:12px;background:#e5e7eb;color:#374151;margin:1px 2px 1px 0}
.pill.handoff,.pill.waiting{background:#fef3c7;color:#92400e}.pill.abstain,.pill.rejected,.pill.down{background:#fee2e2;color:#991b1b}
.pill.answer,.pill.up{background:#dcfce7;color:#166534}.pill.clarify{background:#e0e7ff;color:#3730a3}
.pill.human{background:#dbeafe;color:#1e40af}
.msg{border-radius:10px;padding:10px 14px;margin:10px 0;max-width:88%}
.msg .who{font-size:12px;color:#6b7280;margin-bottom:2px}
.msg .text{white-space:pre-wrap;overflow-wrap:anywhere}
.msg.customer{background:#f3f4f6;margin-right:auto}
.msg.bot{background:#eff6ff;margin-left:auto}
.msg.staff{background:#ecfdf5;margin-left:auto;border:1px solid #a7f3d0}
.trace{margin-top:8px;border-top:1px dashed #bfdbfe;padding-top:6px;font-size:13px;color:#374151}
.trace ol{margin:4px 0 4px 20px;padding:0}
.notice{background:#fffbeb;border:1px solid #fde68a;padding:10px 12px;border-radius:6px;margin-bottom:10px}
.quote{border-left:3px solid #d1d5db;padding:2px 10px;margin:6px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.live{width:100%;height:430px;border:1px solid #e5e7eb;border-radius:8px;background:#fff}
.pager{display:flex;justify-content:space-between;margin-top:12px}
td.q{max-width:340px;overflow-wrap:anywhere}
td.t{white-space:nowrap}
.card.item{padding:14px 20px;margin-bottom:12px}.card.item .actions{margin-top:8px}
.card label:first-child,.card form>label:first-of-type{margin-top:0}
@media (max-width:600px){.msg{max-width:100%}.live{height:360px}table.wide th:nth-child(n+4),table.wide td:nth-child(n+4){display:none}}
</style>"""

def staff_bar(session: "StaffSession", here: str = "") -> str:
    """The top bar's right side (the console's one, `ui.console.html.staff_header`)."""
    return staff_header(session, here)


def tabs(current: str, session: "StaffSession") -> str:
    """This module's styles, and for admins on the conversation pages the privacy record's link."""
    privacy = ('<p class="muted"><a href="/admin/privacy-deletions">Privacy deletions</a></p>'
               if session.user.role == "admin" and current != "/admin/inbox" else "")
    return LOG_STYLE + privacy


def csrf_field(session: "StaffSession") -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(session.csrf_token)}">'


def post_button(action: str, label: str, session: "StaffSession", kind: str = "") -> str:
    """A one-button form posting to `action` with the session's CSRF token."""
    css = f' class="{kind}"' if kind else ""
    return f'<form method="post" action="{esc(action)}">{csrf_field(session)}<button type="submit"{css}>{esc(label)}</button></form>'


def when(moment: datetime) -> str:
    """A stored time as the console shows it: UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def waited(moment: datetime, now: datetime) -> str:
    """How long ago, in the largest unit that says it: "42 s", "7 min", "3 h 5 min"."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def entry_link(entry_id: str, kb_version: int | None, score: float | None = None) -> str:
    """An entry as it was at the KB version the bot read it from (/admin/entries/{id}/at/{v})."""
    href = f"/admin/entries/{quote(entry_id, safe='')}" + (f"/at/{int(kb_version)}" if kb_version else "")
    shown = f"{esc(entry_id)}" + (f" <span class=muted>{score:.2f}</span>" if score is not None else "")
    return f'<a href="{esc(href)}" target="_top">{shown}</a>'


def state_label(state: str, held_by: str | None) -> str:
    """A conversation's hand-off state as a pill: bot, waiting, or held by whom."""
    shown = f"held by {held_by}" if state == "human" and held_by else state
    return f'<span class="pill {esc(state)}">{esc(shown)}</span>'


def author_label(author: str) -> tuple[str, str]:
    """(css class, label) of a stored author: customer, bot or staff:<name>."""
    if author.startswith("staff:"):
        return "staff", f"staff:{author.removeprefix('staff:')}"
    return ("bot", "bot") if author == "bot" else ("customer", "customer")


def message_block(author: str, text: str, moment: datetime, extra: str = "") -> str:
    """One message: who and when, the text as written (escaped, line breaks kept), then `extra`."""
    css, label = author_label(author)
    return (f'<div class="msg {css}"><div class="who">{esc(label)} · {esc(when(moment))}</div>'
            f'<div class="text">{esc(text) or "<span class=muted>(no text)</span>"}</div>{extra}</div>')
