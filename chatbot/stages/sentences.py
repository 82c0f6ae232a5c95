"""Cutting text into sentences, all at once or as it streams in (English and Chinese).

A sentence ends at `.`, `!`, `?` (a run of them, "?!" or "...") followed by a blank or the end of the
text, at `。`, `！`, `？` whatever follows, and at a line break. Closing quotes and brackets and
citation markers `[n]` right after the end mark stay with the sentence, and so do the blanks after
it, so that the pieces join back to the text exactly:

    >>> split_sentences("Returns take 3.5 days, e.g. by post [1]. 退货需要三天。好的")
    ['Returns take 3.5 days, e.g. by post [1]. ', '退货需要三天。', '好的']

A period does not end a sentence after an abbreviation ("e.g.", "Mr.", "U.S.", a single
letter), after a list number at the start of a line ("1. Open …"), nor inside a number ("3.5")
or a URL ("shop.example.com/a.b"), because no blank follows it there. A wrong guess only makes a
sentence longer (it is checked as one), never shorter than a whole claim.

`SentenceCutter` gives the same pieces for text that arrives in pieces: a sentence is complete
only once the text after it shows that nothing more can join it (a blank then a letter, not "[").
"""

from __future__ import annotations

import re

_CJK_MARKS = "。！？"
_BOUNDARY = re.compile(
    r"(?P<marks>[.!?。！？]+)"  # the end mark, or a run of them
    r"[\"'”’)）」』]*"  # closing quotes and brackets
    r"(?:[ \t\u3000]*\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\])*"  # citations after it: "days. [1]"
    r"(?P<blanks>[ \t\r\n\u3000]*)"
    r"|(?P<newline>\n)[ \t\r\n\u3000]*"
)
# Text that may still grow into a citation ("[", "[1", "[1, 2") and so join the sentence before it.
_CITATION_START = re.compile(r"[ \t\u3000]*\[[\d,\s]*")
ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "st", "no", "nr", "approx", "incl", "excl",
    "inc", "ltd", "co", "corp", "jr", "sr", "dept", "fig", "min", "max", "tel", "ca", "cf", "al",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
# The word before a period: "e.g", "U.S", "etc"; letter-dot runs are abbreviations ("a.m").
_WORD_BEFORE = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]+$")
_LIST_NUMBER = re.compile(r"[ \t]*\d{1,3}")  # a whole line so far: "1." opens a list item


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether the period at `end` closes an abbreviation or a list number, not a sentence."""
    line = text[text.rfind("\n", 0, end) + 1:end]
    if _LIST_NUMBER.fullmatch(line):
        return True
    word = _WORD_BEFORE.search(text, max(0, end - 40), end)
    if word is None:
        return False
    # Only a word of its own counts: not "xe.g", nor the end of a URL ("example.com/a.b").
    if word.start() > 0 and not (text[word.start() - 1].isspace() or text[word.start() - 1] in "(\"'“‘（"):
        return False
    token = word.group().lower()
    return token in ABBREVIATIONS or len(token) == 1 or "." in token


def _cut_points(text: str, start: int, final: bool) -> tuple[list[int], bool]:
    """The offsets after which sentences of `text[start:]` end, and whether scanning stopped at a
    place that more text could still change (only when not `final`)."""
    points: list[int] = []
    for match in _BOUNDARY.finditer(text, start):
        end = match.end()
        at_end = end == len(text)
        if not final and (at_end or _CITATION_START.fullmatch(text, end)):
            return points, True  # more blanks, marks or a citation may still join this sentence
        if match.group("newline") is None:
            marks = match.group("marks")
            ends = (at_end or bool(match.group("blanks")) or any(m in _CJK_MARKS for m in marks))
            if not ends or (marks == "." and _is_abbreviation(text, match.start())):
                continue
        points.append(end)
    return points, False


def _final_pieces(text: str, start: int) -> list[str]:
    points, _ = _cut_points(text, start, final=True)
    bounds = [start, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def split_sentences(text: str) -> list[str]:
    """`text` cut into sentences (see the module's docstring); they join back to `text`, none empty."""
    return _final_pieces(text, 0)


class SentenceCutter:
    """Cuts streamed text into the sentences `split_sentences` would cut the whole text into.

        >>> cutter = SentenceCutter()
        >>> cutter.feed("It costs $3."), cutter.feed("5. It ships"), cutter.finish()
        ([], ['It costs $3.5. '], ['It ships'])
    """

    def __init__(self) -> None:
        self._text = ""
        self._start = 0  # where the sentence in progress begins

    @property
    def pending(self) -> str:
        """The text received after the last complete sentence."""
        return self._text[self._start:]

    def feed(self, piece: str) -> list[str]:
        """Add `piece`; return the sentences it completed, in order."""
        self._text += piece
        points, _ = _cut_points(self._text, self._start, final=False)
        sentences = []
        for point in points:
            sentences.append(self._text[self._start:point])
            self._start = point
        return sentences

    def finish(self) -> list[str]:
        """The text has ended: the sentences of the rest, as `split_sentences` cuts them."""
        pieces = _final_pieces(self._text, self._start)
        self._start = len(self._text)
        return pieces
