"""The console's charts: PNG data: URIs, an honest "no data" image, labels no font can draw
replaced, and matplotlib never imported with the app (only when a chart is drawn)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

from PIL import Image

from ui.console import charts

REPO_ROOT = Path(__file__).resolve().parents[2]


def size_of(src: str) -> tuple[int, int]:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


def test_charts_are_pngs_of_the_column_width() -> None:
    width = round(charts.WIDTH_IN * charts.DPI)
    assert size_of(charts.bar_chart(["Mar 01", "Mar 02"], {"Answered": [3, 5], "Abstained": [1, 0]}))[0] == width
    assert size_of(charts.ranked_chart(["How long does shipping take?"], [4], ["shipping"]))[0] == width
    assert size_of(charts.histogram_chart(["< 100", "≥ 100"], [2, 1], {"p50": 80.0, "p95": 150.0}, (100,)))[0] == width


def test_an_empty_chart_is_the_no_data_image() -> None:
    empty = charts.no_data_chart()
    assert charts.bar_chart(["Mar 01"], {"Conversations": [0]}) == empty
    assert charts.ranked_chart([], []) == empty
    assert charts.histogram_chart(["< 100"], [0], {"p50": None}, (100,)) == empty


def test_a_label_no_font_draws_falls_back_to_its_key() -> None:
    assert charts.drawable("Where is my parcel?", "orders-track") == "Where is my parcel?"
    families, codepoints = charts.label_fonts()
    if ord("包") not in codepoints:  # no CJK font installed here
        assert charts.drawable("我的包裹在哪里？", "orders-track-zh") == "orders-track-zh"


def test_the_app_imports_no_matplotlib() -> None:
    code = "import sys, ui.server; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert result.stdout.strip() == "False"
