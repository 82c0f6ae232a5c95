"""HTML pieces of the history pages (`ui.console.history_pages`): a field-by-field diff with
deletions and insertions coloured (and struck through / underlined, for readers who do not see
colour), an entry as it was, the rollback forms, and the pages' few extra styles. Every value
passes `esc`: entries and reasons are staff input.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from knowledge_base.history_diff import FieldDiff, elided
from ui.console.auth import CSRF_FIELD
from ui.console.html import esc

if TYPE_CHECKING:
    from chatbot.staff.sessions import StaffSession
    from knowledge_base.entries import Entry

# The shared frame's stylesheet has none of these; a <style> in the body is allowed by the CSP
# (style-src 'unsafe-inline') and keeps this page's look next to its markup.
HISTORY_STYLE = """<style>
.crumbs{font-size:13px;color:#6b7280;margin:0 0 12px}
.crumbs a,.card a{color:#1d4ed8}
.vhead{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:baseline}
.vhead .when{color:#6b7280;font-size:13px}
.badge{display:inline-block;border-radius:999px;padding:0 10px;font-size:13px;font-weight:600}
.b-created,.b-restored{background:#dcfce7;color:#166534}.b-edited{background:#dbeafe;color:#1e40af}
.b-deleted{background:#fee2e2;color:#991b1b}.b-recorded{background:#f3f4f6;color:#374151}
.reason{margin:8px 0 0;font-style:italic}
dl.diff{margin:10px 0 0}dl.diff dt{font-weight:600;font-size:13px;color:#374151;margin-top:10px}
dl.diff dd{margin:4px 0 0;padding:8px 10px;background:#f9fafb;border:1px solid #e5e7eb;border-radius:6px;
white-space:pre-wrap;overflow-wrap:anywhere}
del{background:#fee2e2;color:#991b1b}ins{background:#dcfce7;color:#166534}
del,ins{padding:0 2px;border-radius:3px}del+ins{margin-left:2px}
ul.items{list-style:none;margin:0;padding:0}ul.items li{padding:1px 0}
.mark{display:inline-block;width:1.2em;font-weight:700;color:#6b7280}
form.rollback{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-top:12px}
form.rollback input[type=text]{flex:1 1 220px;width:auto;padding:7px 10px}
form.rollback button{margin:0;padding:7px 14px}
details.rollback summary{cursor:pointer;color:#1d4ed8;font-size:14px;white-space:nowrap}
details.rollback form{min-width:240px}
.ids{font-size:13px;margin-top:2px}.ids a{margin-right:6px}
@media (max-width:600px){table.versions tr{display:block;border-bottom:1px solid #e5e7eb;padding:8px 0}
table.versions tr:first-child{display:none}table.versions td{display:inline;border:0;padding:0 8px 0 0}
table.versions td.num::before{content:"Version "}table.versions td.num{font-weight:600}
table.versions td:nth-child(2){white-space:nowrap}
table.versions td.what,table.versions td.act{display:block;padding:4px 0 0}}
.notice{background:#ecfdf5;border:1px solid #a7f3d0;color:#065f46;padding:10px 12px;border-radius:6px;margin-bottom:8px}
.links{margin:10px 0 0;font-size:14px}
</style>"""
_MARKS = {"same": "", "delete": "−", "insert": "+"}


def when(moment: datetime) -> str:
    """A stored time (UTC; SQLite gives it back without its zone) as the pages show it."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _span(op: str, text: str) -> str:
    return {"same": "{}", "delete": "<del>{}</del>", "insert": "<ins>{}</ins>"}[op].format(esc(text))


def field_diff_html(diff: FieldDiff) -> str:
    """One field's changes: runs of words, or a list's items one per line marked − or +."""
    if diff.kind == "list":
        items = "".join(f'<li><span class="mark" aria-hidden="true">{_MARKS[s.op]}</span>{_span(s.op, s.text)}</li>'
                        for s in diff.spans)
        return f"<dt>{esc(diff.field)}</dt><dd><ul class=\"items\">{items}</ul></dd>"
    return f"<dt>{esc(diff.field)}</dt><dd>{''.join(_span(s.op, s.text) for s in elided(diff.spans))}</dd>"


def diff_html(fields: list[FieldDiff]) -> str:
    return f'<dl class="diff">{"".join(field_diff_html(f) for f in fields)}</dl>' if fields else ""


def entry_html(entry: "Entry") -> str:
    """Every field of an entry, as a definition list."""
    rows = [("question", entry.question), ("answer", entry.answer)]
    rows += [(name, value) for name, value in (("alternates", "\n".join(entry.alternates)),
                                                ("category", entry.category), ("language", entry.language),
                                                ("tags", ", ".join(entry.tags)), ("url", entry.url)) if value]
    return f'<dl class="diff">{"".join(f"<dt>{esc(n)}</dt><dd>{esc(v)}</dd>" for n, v in rows)}</dl>'


def rollback_form(action: str, session: "StaffSession", field: str, version: int, label: str) -> str:
    """A form that posts a rollback to `version` (in the hidden `field`) with an optional reason."""
    return (f'<form class="rollback" method="post" action="{esc(action)}">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(session.csrf_token)}">'
            f'<input type="hidden" name="{esc(field)}" value="{int(version)}">'
            f'<input type="text" name="reason" maxlength="500" placeholder="Reason (optional)" '
            f'aria-label="Reason for rolling back to version {int(version)}">'
            f'<button type="submit">{esc(label)}</button></form>')


def message_html(notice: str = "", error: str = "") -> str:
    return ((f'<div class="notice" role="status">{esc(notice)}</div>' if notice else "")
            + (f'<div class="error" role="alert">{esc(error)}</div>' if error else ""))
