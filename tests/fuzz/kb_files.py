"""Hypothesis strategies for knowledge-base files, good rows mixed with bad ones, in every format
`chatbot kb import` reads (.csv .tsv .json .jsonl .md .markdown .txt), and their rendering to bytes.

A drawn `FileSpec` holds rows of fields (ids new, of entries already stored, invalid, repeated;
questions and answers with lone surrogates, NUL, control characters, over every limit and over
csv's 131,072-character field limit; wrong JSON types, huge integers, deep nesting) and how the
file is damaged (invalid UTF-8, a BOM, NUL after the first 8 KB, cut short, a broken row).
`render` turns it into a `KbFile`: the bytes, the name (non-ASCII names included, and names that
collide once reduced to ASCII) and what the import must account for (rows, ids named).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from chat_inputs import (
    ANY_CHARACTER,
    CONTROL,
    INJECTION,
    INVISIBLE,
    MARKUP,
    SCRIPTS,
    SQL,
    SURROGATES,
    weighted,
)
from hypothesis import strategies as st

MISSING: Any = object()  # a field left out
STORED = "<an id already stored>"  # replaced by the id of an entry an earlier file created
REPEAT = "<the id of an earlier row of this file>"
FORMATS = [".csv", ".tsv", ".json", ".jsonl", ".md", ".markdown", ".txt"]
TABULAR_COLUMNS = ["id", "question", "alternates", "answer", "category", "language", "tags", "url"]
# Stems that reduce to nothing (or the same) in ASCII: two of them must not share entries.
COLLIDING_STEMS = ["中文", "日本語", "한국어", "常见问题", "émoji😀", "Ünïcödé", "—", "😀", "FAQ (副本)", "Ελληνικά"]
ODD_SUFFIXES = ["", "", "", " faq", "_常见问题", " (1)", "-ñ", " 😀", ".backup", " spaces  here", "-" + "x" * 60]
CSV_FIELD_LIMIT = 131_072  # Python's csv.field_size_limit() default

QUESTIONS = ["How do I reset my password?", "Do you ship to Canada?", "Where is my refund?",
             "Can I change my order?", "我的订单什么时候到？", "Wie lange dauert der Versand?",
             "¿Puedo pagar en efectivo?", "How do I delete my account?"]
TEXT_PIECES = QUESTIONS + SURROGATES + CONTROL + INVISIBLE + SCRIPTS + MARKUP + SQL + INJECTION + [
    "|", ",", ";", "\t", '"', "'", "\\", "\n", "\r\n", "#", "## heading", "---", "```", "\ufeff", "\x00" * 2]


def _repeat(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


fuzz_text = weighted(
    (5, st.lists(st.one_of(st.sampled_from(TEXT_PIECES), st.text(ANY_CHARACTER, max_size=10)), min_size=1,
                 max_size=5).map("".join)),
    (1, st.sampled_from(["", " ", "\t\n"])),
)
long_text = st.builds(_repeat, st.sampled_from(["a", "é ", "你", "😀", "x" * 9 + " ", "\ud800", "\x00"]),
                      st.sampled_from([201, 1001, 4001, 20_001, CSV_FIELD_LIMIT + 1]))
good_question = st.builds(lambda q, n: f"{q} ({n})", st.sampled_from(QUESTIONS), st.integers(0, 10**6))
good_answer = st.sampled_from(["Yes.", "Within 5 business days.", "请联系客服。", "See https://example.com/help.",
                               "Call +1 415 555 0132 or write to help@example.com."])



@dataclass(frozen=True)
class HugeInteger:
    """An integer of 5,000 digits: past Python's int-to-str limit (4,300), written raw."""

    digits: int = 5000


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` lists deep, written raw (json.dumps would recurse as deep)."""

    depth: int


wrong_type = st.one_of(st.integers(min_value=-(2**64), max_value=2**64), st.floats(allow_nan=True), st.booleans(),
                       st.none(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                       st.integers(), max_size=1),
                       st.just(HugeInteger()), st.sampled_from([64, 65, 1000, 5000]).map(lambda depth: Deep(depth)))


def field_value(good: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a good value; else fuzzed text, a text over a limit, a wrong type, or left out."""
    return weighted((24, good), (8, fuzz_text), (1, long_text), (2, wrong_type), (2, st.just(MISSING)))


entry_id = weighted(
    (3, st.just(MISSING)),  # the importer names it
    (4, st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=4, max_size=10).map(lambda s: f"fz-{s}")),
    (2, st.just(STORED)), (1, st.just(REPEAT)),
    (1, st.sampled_from(["", " ", "has space", "ünïcode", "a" * 129, "-dash-first", "\x00", "\ud800", "id\n2",
                         "fz-ok ", "../../etc/passwd", "'; DROP TABLE kb_entries; --", "😀"])),
    (1, wrong_type),
)
row = st.fixed_dictionaries({
    "id": entry_id,
    "question": field_value(good_question),
    "answer": field_value(good_answer),
    "alternates": field_value(st.lists(good_question, max_size=3)),
    "category": field_value(st.sampled_from(["shipping", "账户", "billing"])),
    "language": field_value(st.sampled_from(["en", "zh", "de", "EN "])),
    "tags": field_value(st.lists(st.sampled_from(["a", "b", "常用"]), max_size=2)),
    "url": field_value(st.just("https://help.example.com/x")),
})
DAMAGE = [None] * 10 + ["invalid-utf8", "bom", "nul-late", "nul-early", "cut", "broken-row", "lf", "latin1"]


@dataclass(frozen=True)
class FileSpec:
    """One drawn file: its format, name, rows (or document sections) and damage."""

    extension: str
    stem: str  # `{serial}` is replaced by a number unique in the run, unless the stem collides
    rows: tuple[dict, ...]
    damage: str | None
    wrapped: bool = False  # JSON: {"entries": [...]} instead of a list
    ascii_json: bool = True  # JSON(L): escapes (lone surrogates travel) or raw UTF-8
    sections: tuple[tuple[str, str], ...] = ()  # documents: (heading, body)


file_specs = st.builds(
    FileSpec,
    extension=st.sampled_from(FORMATS),
    stem=weighted((6, st.sampled_from(ODD_SUFFIXES).map(lambda suffix: "kb{serial}" + suffix)),
                  (1, st.sampled_from(COLLIDING_STEMS))),
    rows=weighted((1, st.just(())), (8, st.lists(row, min_size=1, max_size=6).map(tuple))),
    damage=st.sampled_from(DAMAGE),
    wrapped=st.booleans(),
    ascii_json=weighted((3, st.just(True)), (1, st.just(False))),
    sections=st.lists(st.tuples(weighted((3, fuzz_text), (1, long_text)), weighted((3, fuzz_text), (1, long_text))),
                      max_size=4).map(tuple),
)


@dataclass(frozen=True)
class KbFile:
    """A file to import and what its import must account for."""

    name: str
    data: bytes
    document: bool
    rows: int | None  # data rows a report must account for (imported or rejected); None: unknown
    repeats: int  # rows whose id repeats an earlier row's (merged, not rejected)
    named_ids: frozenset[str]  # ids the rows name: the entries this file may change


def _resolve_ids(rows: tuple[dict, ...], stored: list[str], pick: int) -> list[dict]:
    resolved, seen = [], []
    for number, fields in enumerate(rows):
        fields = dict(fields)
        if fields["id"] == STORED:
            fields["id"] = stored[(pick + number) % len(stored)] if stored else MISSING
        elif fields["id"] == REPEAT:
            fields["id"] = seen[(pick + number) % len(seen)] if seen else MISSING
        if isinstance(fields["id"], str):
            seen.append(fields["id"])
        resolved.append(fields)
    return resolved


def _raw_json(value: Any, ascii_only: bool) -> str:
    """JSON text of `value`, HugeInteger and Deep written out by hand."""
    if isinstance(value, HugeInteger):
        return "9" * value.digits
    if isinstance(value, Deep):
        return "[" * value.depth + "1" + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=ascii_only)}: {_raw_json(v, ascii_only)}"
                               for k, v in value.items() if v is not MISSING) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_raw_json(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _cell(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, HugeInteger):
        return "9" * value.digits
    if isinstance(value, Deep):
        return "[" * value.depth + "]" * value.depth
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def _tabular(rows: list[dict], delimiter: str) -> tuple[str, int]:
    """The CSV/TSV text and how many rows are not blank (blank rows are skipped, not errors)."""
    out = io.StringIO()
    # "\r\n" ends rows as spreadsheets do, and makes the writer quote a lone "\r" in a cell
    # (which a reader would take as the end of a row).
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(TABULAR_COLUMNS)
    counted = 0
    for fields in rows:
        cells = [_cell(fields[column]) for column in TABULAR_COLUMNS]
        writer.writerow(cells)
        counted += any(cell.strip() for cell in cells)
    return out.getvalue(), counted


def _document(spec: FileSpec) -> str:
    if spec.extension == ".txt":
        return "\n\n".join(body for _, body in spec.sections)
    return "\n\n".join(f"## {heading}\n\n{body}" if heading else body for heading, body in spec.sections)


def _damaged(text: str, damage: str | None, surrogate_bytes: bool) -> tuple[bytes, bool]:
    """`text` as bytes with `damage` done (lone surrogates as the invalid bytes they would be
    with `surrogate_bytes`, else "?"); whether the rows can still be counted exactly."""
    data = text.encode("utf-8", "surrogatepass" if surrogate_bytes else "replace")
    exact = True
    if damage == "invalid-utf8":
        return data[: len(data) // 2] + b"\xff\xc3\x28" + data[len(data) // 2:], False
    if damage == "bom":
        return b"\xef\xbb\xbf" + data, exact
    if damage == "nul-late":  # past the first 8 KB, where the binary check does not look
        return data + b" " * max(0, 8300 - len(data)) + b"\x00\n", False
    if damage == "nul-early":
        return b"\x00" + data, False
    if damage == "cut":
        return data[: max(1, len(data) * 2 // 3)], False
    if damage == "broken-row":
        return data + b'\n"unbalanced,quote\nid,"x\n', False
    if damage == "lf":
        return data.replace(b"\r\n", b"\n"), exact
    if damage == "latin1":
        return text.encode("latin-1", "replace"), False
    return data, exact


def _id_text(value: Any) -> str:
    """The id a row names, as the importers read it (`str(value or "").strip()`); "" for none."""
    if value is MISSING or isinstance(value, (Deep, HugeInteger)):
        return ""
    return str(value or "").strip()


def _named_ids(rows: list[dict]) -> frozenset[str]:
    return frozenset(text for text in (_id_text(f["id"]) for f in rows) if text)


def render(spec: FileSpec, serial: int, stored: list[str], pick: int) -> KbFile:
    """`spec` as a file: `serial` makes its name unique (unless it collides on purpose),
    `stored` are ids that earlier files created (for rows that update one)."""
    name = spec.stem.replace("{serial}", str(serial)) + spec.extension
    rows = _resolve_ids(spec.rows, stored, pick)
    named = [_id_text(f["id"]) for f in rows]
    named = [text for text in named if text]
    repeats = len(named) - len(set(named))
    if spec.extension in (".md", ".markdown", ".txt"):
        text = _document(spec)
        data, _ = _damaged(text, spec.damage, True)
        return KbFile(name, data, True, None, 0, frozenset())
    if spec.extension in (".csv", ".tsv"):
        text, counted = _tabular(rows, "," if spec.extension == ".csv" else "\t")
        data, exact = _damaged(text, spec.damage, True)
        return KbFile(name, data, False, counted if exact else None, repeats, _named_ids(rows))
    objects = [_raw_json(fields, spec.ascii_json) for fields in rows]
    if spec.extension == ".jsonl":
        text = "\n".join(objects) + "\n"
        counted = len(objects)
    else:
        listed = "[" + ",\n".join(objects) + "]"
        text = '{"entries": ' + listed + "}" if spec.wrapped else listed
        counted = len(objects)
    data, exact = _damaged(text, spec.damage, not spec.ascii_json)
    return KbFile(name, data, False, counted if exact else None, repeats, _named_ids(rows))
