"""Export: every format `write_entries` writes is read back by `read_file` into the same entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.entries import Entry
from knowledge_base.importers.export import ExportFormatError, write_entries
from knowledge_base.importers.readers import read_file

ENTRIES = [
    Entry(id="ship-time", question="How long does shipping take?", answer="3-5 business days, \"tracked\".\n\nEU: 2 days.",
          alternates=["When will my order arrive?", "delivery time, in days"], category="shipping",
          language="en", tags=["orders", "delivery"], url="https://shop.example/help/shipping?x=1&y=2"),
    Entry(id="returns-zh", question="我可以退货吗？", answer="可以，30天内免费退货。",
          alternates=["怎么退款", "退货政策是什么"], category="退货", language="zh", tags=["退款"],
          url="https://shop.example/zh/returns"),
    Entry(id="plain", question="Do you have a shop in Berlin?", answer="No, online only."),
]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".CSV"])
def test_export_then_import_gives_the_same_entries(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"kb{suffix}"
    assert write_entries(path, ENTRIES) == 3
    result = read_file(path)
    assert result.errors == []
    assert [e.to_dict() for e in result.entries] == [e.validate().to_dict() for e in ENTRIES]
    # Alternates travel as `|`-separated text in tabular files and still come back one by one.
    assert result.entries[0].alternates == ["When will my order arrive?", "delivery time, in days"]
    assert result.entries[1].phrasings == ["我可以退货吗？", "怎么退款", "退货政策是什么"]


def test_an_empty_knowledge_base_exports_a_file_that_imports_nothing(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.json"):
        assert write_entries(tmp_path / name, []) == 0
        assert read_file(tmp_path / name).entries == []


@pytest.mark.parametrize("name", ["kb.xls", "kb.md", "kb"])
def test_another_suffix_is_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportFormatError, match=r"use \.csv, \.tsv, \.json, \.jsonl or \.xlsx"):
        write_entries(tmp_path / name, ENTRIES)
    assert not (tmp_path / name).exists()


def test_an_xlsx_export_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    path = tmp_path / "kb.xlsx"
    risky = Entry(id="sum", question="=1+1", answer="=HYPERLINK(\"http://evil.example\")", tags=["=x"])
    assert write_entries(path, [risky]) == 1
    [entry] = read_file(path).entries
    assert (entry.question, entry.answer, entry.tags) == ("=1+1", risky.answer, ["=x"])
