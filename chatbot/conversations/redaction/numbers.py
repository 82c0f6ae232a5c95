"""Card and phone numbers in running text, English or Chinese, next to what only looks like them.

A *run* is a stretch of digit groups (`415-555-0132`, `(021) 6234 5678`, `+86 138 0013 8000`)
joined by single spaces. It is tried whole first, then shorter stretches that start and end at
its spaces or slashes, so that `4111 1111 1111 1111 2024` still gives a card, `2024-11-23
415-555-0132` a phone and `18612345678/13912345678` two. A stretch is never masked when a group in it is a date or an IP address, or when the
words right before it say what the number is (an order, a tracking number, a price...).
"""

from __future__ import annotations

import re

from chatbot.conversations.redaction.cards import is_card_number
from chatbot.conversations.redaction.phones import is_phone_number

# A group: digits with `-./()` inside, maybe a `+` or bracket first. Runs may sit right next to
# Chinese characters (`手机号是13812345678，谢谢`), so the boundaries are ASCII letters and digits,
# not `\w`, which also matches CJK. A group glued to a letter (`SF1234567890`, `v2.3.1`, `1Z99`)
# is an identifier, never a run.
_GROUP = r"[(\[（]?\+?\d(?:[\d\-./()（）]*[\d)）])?"
_RUN = re.compile(rf"(?<![\dA-Za-z_+\-./]){_GROUP}(?:[ \t\u00a0]{_GROUP})*(?![\-./]?[\dA-Za-z_])")
_SPACE = re.compile(r"[ \t\u00a0]")
_SLASH_PARTS = re.compile(r"[^/]+")
_NON_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_SHORTEST, _LONGEST = 7, 19  # digits of a phone number without area code, of the longest card
# Groups that are something else: dates (2024-11-23, 2024.11.23, 11/23/2024, 23.11.2024), builds
# named after a date (2024.11.1234) and IPv4 addresses.
_NOT_A_NUMBER = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d+|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2})|\d{1,3}(?:\.\d{1,3}){3}"
)
# Words that, right before a number, say it is not personal data. "号码" alone stays neutral:
# 电话号码 and 订单号码 both end with it, so the word before it decides.
_LABELS_EN = (
    r"order|orders|ord|invoice|inv|receipt|tracking|track|parcel|package|shipment|waybill|awb"
    r"|ref|reference|ticket|case|sku|item|product|serial|s/n|sn|model|part|isbn|batch|lot|booking|confirmation"
    r"|imei|meid|iccid"  # device ids pass the Luhn check like cards
)
_LABELS_ZH = r"订单|单号|运单|快递|物流|包裹|编号|发票|工单|型号|序列号|货号|批号|流水号|交易号|会员号|券号|商品|串号"
_LABEL_BEFORE = re.compile(
    rf"(?:(?:(?<![A-Za-z])(?:{_LABELS_EN})|{_LABELS_ZH})(?:\s*(?:number|num|no\.?|nr\.?|id|code|is|号码|号|代码|是|为))*"
    r"|(?<![A-Za-z])(?<![A-Za-z] )[#＃]|[$¥￥€£]|№)"  # `#100234`, but `Phone #: 415-555-0132`
    r"\s*[:：#＃.]?\s*$",
    re.IGNORECASE,
)
# ... or a token of letters and digits right before: the run is the rest of an identifier written
# in groups (UPS `1Z 999 AA1 01 2345 6784`).
_IDENTIFIER_BEFORE = re.compile(r"(?<![A-Za-z\d])(?=[A-Za-z\d]*[A-Za-z])(?=[A-Za-z\d]*\d)[A-Za-z\d]+ $")
_CONTEXT = 32  # characters before a run that are read for a label


def _labelled(text: str, start: int) -> bool:
    window = max(0, start - _CONTEXT)
    return any(rule.search(text, window, start) is not None for rule in (_LABEL_BEFORE, _IDENTIFIER_BEFORE))


def _unbracketed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without brackets that belong to the sentence: `(415 555 0132)` keeps them around
    the placeholder, `(415) 555-0132` is masked whole."""
    span = text[start:end]
    closing = min((i for i in (span.find(")"), span.find("）")) if i >= 0), default=-1)
    opened = span.count("(") + span.count("（")
    closed = span.count(")") + span.count("）")
    if span[0] in "(（" and closing == len(span) - 1:
        return start + 1, end - 1
    if opened > closed and span[0] in "(（":
        return start + 1, end
    if closed > opened and span[-1] in ")）":
        return start, end - 1
    return start, end


def _placeholder(candidate: str) -> str | None:
    digits = _NON_DIGIT.sub("", candidate)
    if not digits.isascii():
        digits = "".join(str(int(char)) for char in digits)  # full-width digits, as some IMEs type
    if is_card_number(digits):
        return "[card]"
    if is_phone_number(candidate):
        return "[phone]"
    return None


def _mask_run(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, placeholder) of what to mask in text[start:end], one run, left to right."""
    chunks = [(start, start)]  # (start, end) of each space-separated chunk
    for space in _SPACE.finditer(text, start, end):
        chunks[-1] = (chunks[-1][0], space.start())
        chunks.append((space.end(), space.end()))
    chunks[-1] = (chunks[-1][0], end)
    # Stretches also start and end at a slash (`18612345678/13912345678`), but a chunk that is a
    # date or an IP address as a whole is never part of one.
    groups: list[tuple[int, int]] = []
    usable: list[bool] = []
    for a, b in chunks:
        ok = _NOT_A_NUMBER.fullmatch(text, a, b) is None
        for part in _SLASH_PARTS.finditer(text, a, b):
            groups.append(part.span())
            usable.append(ok)
    digits_before = [0]  # digits in groups[:i], to skip stretches too short or long to parse
    for a, b in groups:
        digits_before.append(digits_before[-1] + len(_DIGIT.findall(text, a, b)))
    found: list[tuple[int, int, str]] = []
    first = 0
    while first < len(groups):
        for last in range(min(len(groups), first + 10) - 1, first - 1, -1):  # longest first
            digits = digits_before[last + 1] - digits_before[first]
            if not _SHORTEST <= digits <= _LONGEST or not all(usable[first : last + 1]):
                continue
            a, b = _unbracketed(text, groups[first][0], groups[last][1])
            placeholder = _placeholder(text[a:b])
            if placeholder and not _labelled(text, a):
                found.append((a, b, placeholder))
                first = last
                break
        first += 1
    return found


def mask_numbers(text: str) -> str:
    """`text` with card numbers replaced by `[card]` and phone numbers by `[phone]`."""
    pieces: list[str] = []
    done = 0
    for run in _RUN.finditer(text):
        for a, b, placeholder in _mask_run(text, run.start(), run.end()):
            pieces += [text[done:a], placeholder]
            done = b
    return "".join(pieces) + text[done:] if pieces else text
