"""The console pages' frame: one small inline stylesheet, no script, no external resource, and
headers that keep the pages out of caches and frames.

Every value a page shows passes `html.escape` (`esc`); names and messages come from staff input.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from fastapi.responses import HTMLResponse

from chatbot.staff.roles import role_allows
from ui.console.auth import CSRF_FIELD

if TYPE_CHECKING:
    from chatbot.staff.sessions import StaffSession

# No script at all, styles inline only, forms post back to this origin, never framed.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
header{background:#1f2937;color:#f9fafb;padding:12px 24px;display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px}
header h1{font-size:17px;margin:0;font-weight:600;flex:0 0 auto;white-space:nowrap}
header form{margin:0}
main{max-width:880px;margin:32px auto;padding:0 20px}
@media (max-width:600px){main{margin:16px auto;padding:0 10px}.card{padding:18px 16px}header{padding:10px 14px}
header h1{font-size:15px;flex-basis:100%}header button{padding:6px 12px}
.narrow{margin:24px auto}}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:24px 28px;margin-bottom:20px}
.narrow{max-width:400px;margin:72px auto}
h2{font-size:20px;margin:0 0 12px}
label{display:block;font-weight:600;margin:14px 0 4px}
input[type=text],input[type=password],input[type=url],input[type=search],textarea,select{width:100%;padding:9px 11px;
border:1px solid #d1d5db;border-radius:6px;font:inherit;background:#fff}
textarea{resize:vertical}
button,.button{display:inline-block;margin-top:18px;padding:9px 18px;border:0;border-radius:6px;background:#2563eb;
color:#fff;font:inherit;cursor:pointer;text-decoration:none}
button.danger{background:#b91c1c}
.button.quiet,button.quiet{background:#e5e7eb;color:#111827}
header button{margin:0;background:#374151}
header nav a:hover{text-decoration:underline}
.error{background:#fef2f2;border:1px solid #fecaca;color:#991b1b;padding:10px 12px;border-radius:6px;margin-bottom:8px}
.muted{color:#6b7280;font-size:13px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
td code{overflow-wrap:break-word}
td,th{text-align:left;padding:6px 8px;border-bottom:1px solid #f3f4f6;vertical-align:top}
code{background:#f3f4f6;padding:1px 5px;border-radius:4px;font-size:13px}
.role{display:inline-block;background:#dbeafe;color:#1e40af;border-radius:999px;padding:1px 10px;font-size:13px}
.notice{background:#ecfdf5;border:1px solid #a7f3d0;color:#065f46;padding:10px 12px;border-radius:6px;margin-bottom:8px}
header nav{display:flex;gap:4px 14px;flex-wrap:wrap;flex:1 1 auto;font-size:14px}header nav a{color:#d1d5db;text-decoration:none}
header nav a[aria-current]{color:#fff;font-weight:600}
@media (max-width:600px){header{flex-wrap:wrap;gap:8px 14px}header h1{flex-basis:100%}}
"""


def esc(value: object) -> str:
    """`value` as text safe inside HTML elements and quoted attributes."""
    return escape(str(value), quote=True)


def page(title: str, body: str, status: int = 200, header: str = "", headers: dict[str, str] | None = None) -> HTMLResponse:
    """A whole console page: `header` is the top bar's right side (already escaped markup)."""
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width,initial-scale=1">'
                f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
                f"<header><h1>Staff console</h1>{header}</header><main>{body}</main></body></html>")
    return HTMLResponse(document, status_code=status, headers={**HEADERS, **(headers or {})})


# The console's sections, in the top bar of every signed-in page, with the least role that may open them
# (the routes check it on the server; the bar only leaves out what would be refused).
NAV = (("/admin", "Home", "viewer"), ("/admin/entries", "Knowledge base", "viewer"),
       ("/admin/conversations", "Conversations", "viewer"), ("/admin/inbox", "Inbox", "viewer"),
       ("/admin/unanswered", "Unanswered", "viewer"), ("/admin/analytics", "Analytics", "viewer"),
       ("/admin/hit-test", "Hit test", "viewer"), ("/admin/replays", "Replay", "editor"),
       ("/admin/settings", "Settings", "viewer"))


def staff_header(session: "StaffSession", here: str = "") -> str:
    """The top bar's right side for a signed-in member: the console's sections (`here`, a path,
    marked as the current one), their name and role, and the sign-out form."""
    user = session.user
    links = "".join(f'<a href="{path}"{" aria-current=page" if path == here else ""}>{esc(label)}</a>'
                    for path, label, least in NAV if role_allows(user.role, least))
    sign_out = (f'<form method="post" action="/admin/logout"><input type="hidden" name="{CSRF_FIELD}" '
                f'value="{esc(session.csrf_token)}"><button type="submit">Sign out</button></form>')
    return f'<nav>{links}</nav><span>{esc(user.name)} <span class="role">{esc(user.role)}</span></span>{sign_out}'
