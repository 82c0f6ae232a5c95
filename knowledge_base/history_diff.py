"""What changed between two versions of an entry, field by field, as data that the console (HTML,
insertions and deletions coloured) and the CLI (git's word-diff marks) both render.

Text fields are compared word by word (difflib on words, spaces and punctuation), and a change
that rewrote most of a text is shown as the old text deleted and the new one inserted, not as
confetti; short fields (category, language, url) are replaced whole; lists (alternates, tags)
item by item.

    >>> before = Entry("ship", "How long is shipping?", "Orders arrive in 3-5 business days.")
    >>> after = Entry("ship", "How long is shipping?", "Orders arrive in 2-4 business days.")
    >>> [as_text(d) for d in diff_entries(before, after)]
    ['answer: Orders arrive in [-3-5-]{+2-4+} business days.']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from knowledge_base.entries import Entry

WORD_FIELDS = ("question", "answer")
WHOLE_FIELDS = ("category", "language", "url")
LIST_FIELDS = ("alternates", "tags")
# Below this share of unchanged words a text was rewritten: old out, new in, is easier to read.
REWRITE_RATIO = 0.4
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
_WORD = re.compile(r"\w")
KEPT_CONTEXT = 80  # characters of unchanged text kept on each side of a change by `elided`


@dataclass(frozen=True)
class Span:
    """A run of text (or one list item) that is the same in both versions, or only in one."""

    op: str  # "same" | "delete" | "insert"
    text: str


@dataclass(frozen=True)
class FieldDiff:
    """The changes of one field: `kind` "text" (runs of words) or "list" (one span per item)."""

    field: str
    kind: str
    spans: list[Span]


def diff_text(before: str, after: str) -> list[Span]:
    """`before` -> `after` as runs of unchanged, deleted and inserted words."""
    if before == after:
        return [Span("same", after)] if after else []
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < REWRITE_RATIO:
        return _replaced(before, after)
    # Chunks: ("same", text) or ("change", deleted, inserted); a change's two sides kept together.
    chunks: list[list] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            chunks.append(["same", "".join(a[i1:i2])])
        elif chunks and chunks[-1][0] == "change":
            chunks[-1][1] += "".join(a[i1:i2])
            chunks[-1][2] += "".join(b[j1:j2])
        else:
            chunks.append(["change", "".join(a[i1:i2]), "".join(b[j1:j2])])
    return _spans(_fold_separators(chunks))


def _fold_separators(chunks: list[list]) -> list[list]:
    """Join two changes separated only by a space or a punctuation mark into one change, so that
    "[-3-]-[-5-]" reads "[-3-5-]"."""
    folded: list[list] = []
    for chunk in chunks:
        if (chunk[0] == "change" and len(folded) >= 2 and folded[-1][0] == "same" and folded[-2][0] == "change"
                and len(folded[-1][1]) <= 3 and not _WORD.search(folded[-1][1])):
            separator = folded.pop()[1]
            folded[-1][1] += separator + chunk[1]
            folded[-1][2] += separator + chunk[2]
        else:
            folded.append(chunk)
    return folded


def _spans(chunks: list[list]) -> list[Span]:
    spans: list[Span] = []
    for chunk in chunks:
        if chunk[0] == "same":
            spans.append(Span("same", chunk[1]))
            continue
        spans.extend(Span(op, text) for op, text in (("delete", chunk[1]), ("insert", chunk[2])) if text)
    return spans


def _replaced(before: str, after: str) -> list[Span]:
    return [Span(op, text) for op, text in (("delete", before), ("insert", after)) if text]


def diff_items(before: list[str], after: list[str]) -> list[Span]:
    """Each item of `before` and `after`: kept, deleted or inserted, in the order of `after`."""
    spans: list[Span] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag == "equal":
            spans.extend(Span("same", item) for item in after[j1:j2])
            continue
        spans.extend(Span("delete", item) for item in before[i1:i2])
        spans.extend(Span("insert", item) for item in after[j1:j2])
    return spans


def diff_entries(before: Entry | None, after: Entry | None) -> list[FieldDiff]:
    """The fields that differ between two versions of an entry (None: the entry did not exist,
    or was deleted, so every field was empty), in the order the console shows them."""
    empty = Entry("", "", "")
    old, new = before or empty, after or empty
    diffs: list[FieldDiff] = []
    for field in ("question", "answer", "alternates", "category", "language", "tags", "url"):
        a, b = getattr(old, field), getattr(new, field)
        if a == b:
            continue
        if field in LIST_FIELDS:
            diffs.append(FieldDiff(field, "list", diff_items(list(a), list(b))))
        elif field in WORD_FIELDS:
            diffs.append(FieldDiff(field, "text", diff_text(a, b)))
        else:
            diffs.append(FieldDiff(field, "text", _replaced(a, b)))
    return diffs


def elided(spans: list[Span], keep: int = KEPT_CONTEXT) -> list[Span]:
    """`spans` with the middle of each long unchanged run cut to "…", keeping `keep` characters
    next to each change: a one-word edit of a long answer shows where it is, not the whole answer."""
    out: list[Span] = []
    for index, span in enumerate(spans):
        limit = keep * (int(index > 0) + int(index < len(spans) - 1))  # context wanted on each side
        if span.op != "same" or len(span.text) <= max(limit, keep) + 20:
            out.append(span)
            continue
        head = span.text[:keep] if index > 0 else ""
        tail = span.text[-keep:] if index < len(spans) - 1 else ""
        out.append(Span("same", f"{head}…{tail}"))
    return out


def as_text(diff: FieldDiff) -> str:
    """One field's diff in git's word-diff marks: [-deleted-] and {+inserted+}; a list's items
    one per line, marked "-", "+" or " "."""
    if diff.kind == "list":
        marks = {"same": " ", "delete": "-", "insert": "+"}
        return f"{diff.field}:\n" + "\n".join(f"  {marks[s.op]} {s.text}" for s in diff.spans)
    wrap = {"same": "{}", "delete": "[-{}-]", "insert": "{{+{}+}}"}
    return f"{diff.field}: " + "".join(wrap[s.op].format(s.text) for s in elided(diff.spans))


def as_json(diff: FieldDiff) -> dict:
    """One field's diff as JSON: {"field", "kind", "spans": [{"op", "text"}]}."""
    return {"field": diff.field, "kind": diff.kind, "spans": [{"op": s.op, "text": s.text} for s in diff.spans]}
