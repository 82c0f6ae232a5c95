"""Charts for the console as PNG `data:` URIs (the pages' CSP allows `img-src data:` and no
script): matplotlib draws them off screen, one look for all of them.

    >>> src = bar_chart(["Mon", "Tue"], {"Conversations": [3, 5]})
    >>> f'<img src="{src}" alt="…">'

matplotlib is imported when the first chart is drawn, never when the app starts, and only its
object-oriented API is used (a `Figure` with an Agg canvas, no `pyplot`): no global state, so
two requests can draw at once. Every chart has a table beside it on the page (the same numbers,
for screen readers and for copying); the charts carry no information the tables lack.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One palette (the console's blue first; colours told apart with colour blindness), text greys.
BLUE, TEAL, AMBER, RED, GREY, SLATE = "#2563eb", "#0d9488", "#d97706", "#dc2626", "#9ca3af", "#475569"
PALETTE = (BLUE, TEAL, AMBER, RED, GREY, SLATE)
TEXT, MUTED, GRID = "#111827", "#6b7280", "#e5e7eb"
WIDTH_IN, DPI = 7.2, 120  # about 860 px wide: the console's content column at full size
NO_DATA = "No data in this range"
# Fonts for Chinese, Japanese and Korean labels, used when installed (matplotlib's own DejaVu Sans
# has none of those characters; a label no installed font can draw falls back to its key).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Droid Sans Fallback", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "AppleGothic")


@functools.cache
def label_fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """The font families labels are drawn with (DejaVu Sans, then any installed CJK font), and
    the code points they can draw between them. Read once per process."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    files = {font.name: font.fname for font in font_manager.fontManager.ttflist}
    families = ("DejaVu Sans", *(name for name in CJK_FONTS if name in files))
    drawable: set[int] = set()
    for name in families:
        drawable.update(FT2Font(files[name]).get_charmap())
    return families, frozenset(drawable)


def drawable(label: str, fallback: str) -> str:
    """`label` if the label fonts can draw every character of it, else `fallback`."""
    codepoints = label_fonts()[1]
    return label if all(ord(c) in codepoints or c.isspace() for c in label) else fallback


def _figure(height_in: float) -> "Figure":
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    figure.set_facecolor("white")
    return figure


def _axes(figure: "Figure") -> "Axes":
    axes = figure.add_subplot()
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color(GRID)
    axes.tick_params(colors=MUTED, labelsize=9, length=0)
    axes.set_axisbelow(True)
    return axes


def _png(figure: "Figure") -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def no_data_chart(height_in: float = 1.6) -> str:
    """An empty chart that says so (the page keeps its layout for an empty range)."""
    figure = _figure(height_in)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, NO_DATA, ha="center", va="center", color=MUTED, fontsize=12)
    return _png(figure)


def _thin_labels(labels: Sequence[str], most: int = 12) -> list[str]:
    """Every n-th label, so that at most `most` are written under the bars."""
    step = max(1, -(-len(labels) // most))
    return [label if i % step == 0 else "" for i, label in enumerate(labels)]


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[int]], colours: Sequence[str] = PALETTE,
              height_in: float = 2.6) -> str:
    """Vertical bars over `labels` (days), one stacked layer per series; a legend when there
    is more than one. `no_data_chart` when every value is 0."""
    if not labels or not any(any(values) for values in series.values()):
        return no_data_chart()
    figure = _figure(height_in)
    axes = _axes(figure)
    positions = range(len(labels))
    bottom = [0] * len(labels)
    for (name, values), colour in zip(series.items(), colours):
        axes.bar(positions, values, bottom=bottom, color=colour, width=0.75, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xticks(list(positions), _thin_labels(labels))
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.margins(x=0.01)
    if len(series) > 1:
        axes.legend(frameon=False, fontsize=9, ncols=min(len(series), 6), loc="upper left",
                    bbox_to_anchor=(0, 1.16), labelcolor=TEXT, handlelength=1, columnspacing=1.2)
    return _png(figure)


def _shortened(label: str, most: int = 48) -> str:
    return label if len(label) <= most else label[: most - 1] + "…"


def ranked_chart(labels: Sequence[str], counts: Sequence[int], keys: Sequence[str] | None = None,
                 colour: str = BLUE) -> str:
    """Horizontal bars, the first label on top, each bar's count written at its end; long
    labels shortened (the table under the chart has them whole), a label that no installed font
    can draw replaced by its key (an entry id) or by "(not drawable: see the table)"."""
    if not labels or not any(counts):
        return no_data_chart()
    figure = _figure(0.5 + 0.3 * len(labels))
    axes = _axes(figure)
    axes.spines["bottom"].set_visible(False)
    positions = list(range(len(labels)))[::-1]
    bars = axes.barh(positions, counts, color=colour, height=0.66)
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=4, color=TEXT, fontsize=9)
    keys = keys or ["(not drawable: see the table)"] * len(labels)
    shown = [_shortened(drawable(label, drawable(key, "(not drawable: see the table)"))) for label, key in zip(labels, keys)]
    axes.set_yticks(positions, shown, fontfamily=list(label_fonts()[0]))
    axes.tick_params(axis="y", labelcolor=TEXT)
    axes.set_xticks([])
    axes.set_xlim(0, max(counts) * 1.12)
    return _png(figure)


def histogram_chart(labels: Sequence[str], counts: Sequence[int], marks: dict[str, float | None],
                    edges_ms: Sequence[int]) -> str:
    """Bars of counts per bucket (`labels`), with a dashed line at each of `marks` (name ->
    milliseconds), placed within its bucket by `edges_ms` (the buckets' upper edges)."""
    if not any(counts):
        return no_data_chart()
    figure = _figure(2.4)
    axes = _axes(figure)
    positions = range(len(labels))
    axes.bar(positions, counts, color=BLUE, width=0.8)
    axes.set_xticks(list(positions), labels)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color=GRID, linewidth=0.8)
    axes.set_ylim(0, max(counts) * 1.3)  # headroom: the marks' labels go above the bars
    lows = [0, *edges_ms]
    for row, ((name, value), colour) in enumerate(zip(marks.items(), (TEAL, RED))):
        if value is None:
            continue
        bucket = next((i for i, edge in enumerate(edges_ms) if value < edge), len(edges_ms))
        high = edges_ms[bucket] if bucket < len(edges_ms) else lows[bucket] * 2
        where = bucket - 0.4 + 0.8 * min(1.0, (value - lows[bucket]) / (high - lows[bucket]))
        axes.axvline(where, color=colour, linestyle="--", linewidth=1.4)
        axes.annotate(f"{name} {value:,.0f} ms", (where, 1), xycoords=("data", "axes fraction"),
                      xytext=(4, -2 - 14 * row), textcoords="offset points", va="top", color=colour, fontsize=9)
    return _png(figure)
