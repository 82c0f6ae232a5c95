"""The HTML of the knowledge-base editor's pages (`ui.console.entry_pages` serves them): the
entries' search form and table, and one entry's form. Every value passes `esc`; nothing here
calls a service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from chatbot.kb_editor_services import EXPORT_FORMATS, EntryChoices
from knowledge_base.entries import Entry
from ui.console.auth import CSRF_FIELD
from ui.console.html import esc

PAGE_SIZE = 25
# The form's fields: (name, label, kind, hint); "lines" is a textarea of one item a line.
FIELDS = [
    ("question", "Question", "text", ""),
    ("alternates", "Other phrasings", "lines", "One a line: how customers also ask it."),
    ("answer", "Answer", "area", ""),
    ("category", "Category", "text", ""),
    ("language", "Language", "text", "e.g. en, zh; empty: detected from the text."),
    ("tags", "Tags", "text", "Separated by commas."),
    ("url", "Link", "url", "A page with more, shown with the answer."),
]


@dataclass
class EntryForm:
    """What an entry's form holds, as typed: shown again unchanged when saving it fails."""

    id: str = ""
    values: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def of(cls, entry: Entry) -> "EntryForm":
        return cls(entry.id, {"question": entry.question, "alternates": "\n".join(entry.alternates),
                              "answer": entry.answer, "category": entry.category, "language": entry.language,
                              "tags": ", ".join(entry.tags), "url": entry.url})

    def entry(self) -> Entry:
        """The entry the form describes (validated by the service that stores it)."""
        get = self.values.get
        return Entry(id=self.id.strip(), question=get("question", ""), answer=get("answer", ""),
                     alternates=[line.strip() for line in get("alternates", "").splitlines() if line.strip()],
                     category=get("category", ""), language=get("language", ""),
                     tags=[t.strip() for t in get("tags", "").split(",") if t.strip()], url=get("url", ""))


def entry_path(entry_id: str) -> str:
    return f"/admin/entries/{quote(entry_id, safe='')}"


def _options(name: str, label: str, choices: list[str], chosen: str) -> str:
    options = "".join(f'<option value="{esc(c)}"{" selected" if c.casefold() == chosen.casefold() else ""}>{esc(c)}</option>'
                      for c in choices)
    return (f'<div><label for="{name}">{label}</label><select id="{name}" name="{name}">'
            f'<option value="">Any</option>{options}</select></div>')


def search_form(filters: dict[str, str], choices: EntryChoices) -> str:
    """The search box and the category, language and tag filters (a GET form: links keep them)."""
    return ('<form method="get" action="/admin/entries" class="filters" role="search">'
            '<div class="wide"><label for="text">Search</label><input type="search" id="text" name="text" '
            f'value="{esc(filters.get("text", ""))}" placeholder="Words in the question, phrasings or answer"></div>'
            + _options("category", "Category", choices.categories, filters.get("category", ""))
            + _options("language", "Language", choices.languages, filters.get("language", ""))
            + _options("tag", "Tag", choices.tags, filters.get("tag", ""))
            + '<div class="actions"><button type="submit">Search</button> '
              '<a class="button quiet" href="/admin/entries">Clear</a></div></form>')


def editor_tools() -> str:
    """What editors may do from the list: a new entry, an import, an export in a chosen format."""
    formats = "".join(f'<option value="{f}">{f.upper()}</option>' for f in EXPORT_FORMATS)
    return ('<div class="tools"><a class="button" href="/admin/entries/new">New entry</a>'
            '<a class="button quiet" href="/admin/imports">Import files</a>'
            '<form method="get" action="/admin/entries/export" class="inline">'
            f'<select name="format" aria-label="Export format">{formats}</select>'
            '<button type="submit" class="quiet">Export</button></form></div>')


def entries_table(entries: list[Entry], total: int, page: int, filters: dict[str, str]) -> str:
    """One page of entries with links to each, and to the pages before and after."""
    if not entries:
        return '<p class="muted">No entry matches. Clear the filters, or add one.</p>'
    rows = "".join(
        f'<tr><td><a href="{esc(entry_path(e.id))}"><code>{esc(e.id)}</code></a></td>'
        f'<td><a href="{esc(entry_path(e.id))}">{esc(e.question)}</a></td><td>{esc(e.category)}</td>'
        f'<td>{esc(e.language)}</td><td>{esc(", ".join(e.tags))}</td>'
        f'<td class="nowrap">{esc(e.updated_at.strftime("%Y-%m-%d %H:%M") if e.updated_at else "")}</td></tr>'
        for e in entries)
    first = (page - 1) * PAGE_SIZE + 1
    pages = []
    for label, target in (("← Previous", page - 1), ("Next →", page + 1)):
        if 1 <= target and (target - 1) * PAGE_SIZE < total:
            query = urlencode({**{k: v for k, v in filters.items() if v}, "page": target})
            pages.append(f'<a href="/admin/entries?{esc(query)}">{label}</a>')
    return (f'<p class="muted">{first}–{first + len(entries) - 1} of {total} entries</p>'
            '<div class="scroll"><table class="entries"><tr><th>Id</th><th>Question</th><th>Category</th><th>Language</th>'
            f'<th>Tags</th><th>Updated (UTC)</th></tr>{rows}</table></div>'
            f'<p class="pages">{" ".join(pages)}</p>')


def _field(name: str, label: str, kind: str, hint: str, value: str, readonly: bool) -> str:
    lock = " readonly" if readonly else ""
    required = " required" if name in ("question", "answer") and not readonly else ""
    hint_html = f'<div class="muted">{esc(hint)}</div>' if hint and not readonly else ""
    if kind in ("lines", "area"):
        rows = 4 if kind == "lines" else 7
        control = f'<textarea id="{name}" name="{name}" rows="{rows}"{lock}{required}>{esc(value)}</textarea>'
    else:
        control = f'<input type="{kind}" id="{name}" name="{name}" value="{esc(value)}"{lock}{required}>'
    return f'<label for="{name}">{label}</label>{control}{hint_html}'


def entry_form(form: EntryForm, csrf_token: str, new: bool, may_edit: bool, error: str = "",
               notice: str = "", version: int | None = None) -> str:
    """An entry's form: editable for editors (with the reason for the change and the delete
    button, confirmed in a second step), read-only for viewers."""
    action = "/admin/entries/new" if new else entry_path(form.id)
    alert = f'<div class="error" role="alert">Not saved: {esc(error)}</div>' if error else ""
    saved = f'<div class="notice" role="status">{esc(notice)}</div>' if notice else ""
    id_field = ('<label for="id">Id</label><input type="text" id="id" name="id" value="' + esc(form.id)
                + '" required pattern="[A-Za-z0-9][A-Za-z0-9_.:\\-]{0,127}" autofocus>'
                '<div class="muted">Letters, digits, "_", "-", ".", ":"; it names the entry in links and exports.</div>'
                if new else "")
    fields = "".join(_field(n, label, kind, hint, form.values.get(n, ""), not may_edit) for n, label, kind, hint in FIELDS)
    title = "New entry" if new else f'Entry <code>{esc(form.id)}</code>'
    links = "" if new else (f'<p class="muted">Version {esc(version)} · <a href="{esc(entry_path(form.id))}/history">'
                            'History of its changes</a> · <a href="/admin/entries">All entries</a></p>')
    if not may_edit:
        return f'<div class="card"><h2>{title}</h2>{links}{saved}{fields}</div>'
    reason = ('<label for="reason">Reason for the change</label><input type="text" id="reason" name="reason" '
              f'value="{esc(form.reason)}" maxlength="500" placeholder="Optional: kept in the history">')
    buttons = (f'<button type="submit">{"Create entry" if new else "Save changes"}</button> '
               '<a class="button quiet" href="/admin/entries">Cancel</a>')
    hidden = f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf_token)}">'
    body = (f'<div class="card"><h2>{title}</h2>{links}{saved}{alert}<form method="post" action="{esc(action)}">'
            f'{hidden}{id_field}{fields}{reason}{buttons}</form></div>')
    if not new:
        body += ('<div class="card"><details><summary>Delete this entry…</summary>'
                 '<p>The bot stops using it at once; its history keeps every version.</p>'
                 f'<form method="post" action="{esc(entry_path(form.id))}/delete">{hidden}'
                 f'<button type="submit" class="danger">Yes, delete {esc(form.id)}</button></form></details></div>')
    return body


# The editor pages' own layout rules (the frame's stylesheet has the rest).
EDITOR_STYLE = """<style>
.filters{display:grid;grid-template-columns:1fr 1fr 1fr auto;gap:0 12px;align-items:end}
.filters .wide{grid-column:1/-1}.filters .actions{display:flex;gap:8px}.filters .actions>*{margin-top:0}
@media (max-width:600px){.filters{grid-template-columns:1fr}.filters .actions{margin-top:14px}
.entries td:nth-child(n+4),.entries th:nth-child(n+4){display:none}}
.tools{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:12px}
.tools .button,.tools button{margin-top:0}.inline{display:flex;gap:6px;margin:0}.inline select{width:auto}
.nowrap{white-space:nowrap}.pages a{margin-right:16px}
summary{cursor:pointer;color:#b91c1c;font-weight:600}
</style>"""
