"""The numbers a text states, as normalised values, for the grounding check.

Digits ("30", "$14.99", "1,000", "3–5", "10%"), English and other spelled-out numbers that
`text2num` reads ("thirty", "twenty-four"), and Chinese numerals ("三十", "两", "百分之十") all
become canonical decimal strings ("30", "14.99", "1000", "0.5"), so that "thirty days", "30 days"
and "三十天" state the same number. Units are not compared: a number is supported when the same
value appears in the source text, whatever it counts.

Two readings, because a false alarm costs a good answer while a missed number costs the truth:

- `strict=True` (the answer) leaves out words that are seldom numbers there: an isolated "one"
  ("the blue one") and a lone Chinese numeral that no unit follows ("一下", "统一");
- `strict=False` (the entries) reads every possible number, so that whatever the strict reading
  finds in a text, the liberal one finds in it too: the extractive answer always passes.

    >>> sorted(stated_numbers("Refunds take 3-5 business days, or thirty for gift cards (10% fee)."))
    ['10', '3', '30', '5']
    >>> sorted(stated_numbers("收货后三十天内可以退货，两周内到账。"))
    ['2', '30']
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

# "1,000" (thousands) and "14.99" (decimals); "2.3.1" reads as 2.3 and 1 on both sides alike.
_DIGITS = re.compile(r"\d+(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?")
# A citation marker is not a stated number.
_CITATION = re.compile(r"\[\s*\d{1,3}(?:\s*,\s*\d{1,3})*\s*\]")

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
# A run starts with a digit or 十 ("十五"); 百/千/万 alone start words ("百货", "千万", "万一").
CHINESE_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万亿]*")
# What may follow a lone numeral for it to count as a number in an answer: time, money, rates.
_CN_TIME_MONEY = "天日周月年时小分秒星工元块角折倍%％号点"  # 小时, 星期, 工作日
# Counters too, but not for 一, which before them mostly means "a" ("一个问题").
_CN_COUNTERS = "个件次份位种项步张台条封单"

_SECOND = re.compile(r"\bsecond\b", re.IGNORECASE)
# text2num's languages (ISO 639-1).
_TEXT2NUM_LANGUAGES = {"en", "fr", "es", "pt", "de", "it", "nl", "da"}


def chinese_numeral_value(run: str) -> int:
    """The value of a Chinese numeral: "三十" → 30, "一百零五" → 105, "两万" → 20000, "二〇二四" → 2024."""
    if run and all(ch in _CN_DIGITS for ch in run):  # digit by digit, as in years and codes
        return int("".join(str(_CN_DIGITS[ch]) for ch in run))
    total = section = digit = 0
    for ch in run:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (digit or 1) * _CN_UNITS[ch]  # "十五": a leading 十 means one ten
            digit = 0
        elif ch in _CN_BIG_UNITS:
            total += (section + digit) * _CN_BIG_UNITS[ch]
            section = digit = 0
        else:
            raise ValueError(f"not a Chinese numeral: {run!r}")
    return total + section + digit


def _canonical(number: str) -> str | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    # normalize() turns 30 into 3E+1: format as a plain decimal, without trailing zeros.
    text = format(value.normalize(), "f")
    return text


def _spelled_out_as_digits(text: str, language: str, strict: bool) -> str:
    """`text` with spelled-out numbers replaced by digits, in languages that text2num reads."""
    base = (language or "en").lower().replace("_", "-").split("-")[0]
    if base not in _TEXT2NUM_LANGUAGES or not re.search(r"[^\W\d_]", text):
        return text
    from text_to_num import alpha2digit  # a compiled extension: loaded only when needed

    if strict and base == "en":  # "a second" is time far more often than an ordinal in answers
        text = _SECOND.sub("sec", text)
    # threshold: isolated numbers below it stay words. Strict: "two" and up; "one" is too often
    # a pronoun. Liberal: everything, ordinals included.
    return alpha2digit(text, base, threshold=2 if strict else 0)


def _chinese_numbers(text: str, strict: bool) -> set[str]:
    found = set()
    for match in CHINESE_NUMERAL.finditer(text):
        run, after = match.group(), text[match.end(): match.end() + 1]
        if strict and len(run) == 1 and text[max(0, match.start() - 3): match.start()] != "百分之":
            if after == "个":  # "三个月", "一个工作日": look past the counter
                after = text[match.end() + 1: match.end() + 2] if run == "一" else "个"
            allowed = _CN_TIME_MONEY if run == "一" else _CN_TIME_MONEY + _CN_COUNTERS
            if not after or after not in allowed:
                continue
        found.add(str(chinese_numeral_value(run)))
    return found


def stated_numbers(text: str, language: str = "en", strict: bool = True) -> set[str]:
    """The numbers `text` states, as canonical decimal strings (see the module's docstring).

    `language` picks the spelled-out number words to read (English, French, Spanish, Portuguese,
    German, Italian, Dutch, Danish); digits and Chinese numerals are read in any language.
    """
    text = unicodedata.normalize("NFKC", text)  # full-width digits and % become ASCII
    text = _CITATION.sub(" ", text)
    text = _spelled_out_as_digits(text, language, strict)
    found = {n for n in map(_canonical, _DIGITS.findall(text)) if n is not None}
    return found | _chinese_numbers(text, strict)
