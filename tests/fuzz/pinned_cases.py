"""Inputs that broke the product once (issue 11's measurements), run first in every fuzz run as
hypothesis `@example`s, so that each is covered whatever the random part draws.

    for batch in PINNED_FILE_BATCHES:
        fuzz = example(specs=batch, pick=0)(fuzz)
"""

from __future__ import annotations

from typing import Any

from chat_inputs import MISSING as NO_FIELD
from chat_inputs import REAL, ChatCase
from kb_files import (
    CSV_FIELD_LIMIT,
    MISSING,
    TABULAR_COLUMNS,
    Deep,
    FileSpec,
    HugeInteger,
)


def pinned_row(**fields: Any) -> dict:
    """A row with the given fields, the others left out."""
    return {column: fields.get(column, MISSING) for column in TABULAR_COLUMNS}


def _file(extension: str, stem: str, *rows: dict, ascii_json: bool = True, **options: Any) -> FileSpec:
    return FileSpec(extension=extension, stem=stem, rows=tuple(rows), damage=None, ascii_json=ascii_json, **options)


GOOD = {"question": "Is this a good row?", "answer": "Yes."}
PINNED_FILE_BATCHES: list[list[FileSpec]] = [
    # A lone surrogate (as a JSON escape) in a list field: stored, then every index write failed.
    [_file(".json", "pinned-poison", pinned_row(id="poison", question="Is this poisoned?", answer="Yes.",
                                                 tags=["\ud800"]))],
    [_file(".json", "pinned-surrogates", pinned_row(id="fz-pinned-surrogate", question="Lone \udfff here?",
                                                     answer="And \ud800 there.", alternates=["\udbff"]))],
    # JSON nested thousands deep (RecursionError), an integer of 5,000 digits (ValueError).
    [_file(".json", "pinned-deep", pinned_row(id="fz-pinned-deep", tags=Deep(5000), **GOOD))],
    [_file(".jsonl", "pinned-huge-int", pinned_row(id="fz-pinned-int", answer=HugeInteger(), question="Int?"))],
    # NUL in a field (PostgreSQL refuses it), after the first 8 KB of a file of 1,002 rows: the
    # import committed the first 1,000 (here: 500, one batch), then crashed.
    [_file(".csv", "pinned-nul-late", *[pinned_row(id=f"fz-nul-{n}", question=f"Question number {n}?",
                                                   answer="An answer." if n < 501 else "NUL \x00 here")
                                        for n in range(502)])],
    # Over the columns' lengths: language (16) and category (200).
    [_file(".csv", "pinned-lengths", pinned_row(id="fz-pinned-language", language="x" * 17, **GOOD),
           pinned_row(id="fz-pinned-category", category="c" * 201, **GOOD))],
    # A field over csv's 131,072-character limit: every later row was dropped unreported.
    [_file(".csv", "pinned-field-limit", pinned_row(id="fz-pinned-long", question="Long?", answer="a" * (CSV_FIELD_LIMIT + 1)),
           *[pinned_row(id=f"fz-after-long-{n}", question=f"After the long one {n}?", answer="Yes.") for n in range(3)])],
    # Raw U+2028 in a JSONL string: one line for JSON, two for str.splitlines.
    [_file(".jsonl", "pinned-line-separator", pinned_row(id="fz-pinned-u2028", question="Line\u2028separator?",
                                                          answer="Para\u2029graph."),
           pinned_row(id="fz-pinned-plain-line", **GOOD), ascii_json=False)],
    # Two file names that reduce to the same ASCII slug: the second overwrote the first's entries.
    [_file(".md", "中文", sections=(("运输", "我们在三个工作日内发货。"),))],
    [_file(".md", "日本語", sections=(("配送", "三営業日以内に発送します。"),))],
]

PINNED_CHAT_CASES: list[ChatCase] = [
    ChatCase(message="hi \ud800", conversation=NO_FIELD, encoding="ascii", content_type="application/json"),
    ChatCase(message="Where is my order? \x00", conversation=REAL, encoding="ascii", content_type="application/json"),
    ChatCase(message="\ud83d\ude00 a pair sent as two escapes", conversation=NO_FIELD, encoding="ascii",
             content_type="application/json"),
    ChatCase(message="\udfff\x00\ud800", conversation=REAL, encoding="chunked", content_type="application/json",
             parts=True, conversation_in_header=False),
]
