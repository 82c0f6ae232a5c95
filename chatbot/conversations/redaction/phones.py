"""Phone numbers, validated by Google's libphonenumber (the `phonenumbers` port).

A number written with `+` (or the `00` international prefix) must be a possible number of its
country code; a national number must be a valid number of one of `NATIONAL_REGIONS`, written as
that country writes it (trunk `0` included, or with the bare country code). The "as written"
rule matters: libphonenumber also accepts a Chinese landline without its trunk `0`, which would
make every ten-digit order number starting with a city code a phone number.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

# Regions whose national formats are recognised without a `+`: our customers write Chinese and
# English (US, UK); France and Germany keep the formats the earlier redaction masked.
NATIONAL_REGIONS: tuple[str, ...] = ("CN", "US", "GB", "FR", "DE")
# Regions whose national numbers always start with the trunk `0`, so that digits starting
# otherwise (and not with the country code) are not parsed for them: parsing is most of the cost.
_TRUNK_ZERO_ONLY = frozenset({"GB", "FR", "DE"})
# The North American 3-3-4 shape with separators, masked even when libphonenumber does not know
# the area code (fictional 555 numbers, area codes newer than its metadata).
_NANP_SHAPE = re.compile(r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}")
_DIGIT = re.compile(r"\d")
_SINGLE_DIGIT_GROUP = re.compile(r"(?<!\d)\d(?!\d)")


def _digits(text: str) -> str:
    return "".join(str(int(char)) for char in _DIGIT.findall(text))  # full-width digits too


def _international(candidate: str) -> bool:
    try:
        number = phonenumbers.parse(candidate, None)
    except NumberParseException:
        return False
    # Possible (the right length for its country code), not only valid: a leading `+` is strong
    # evidence already, and fake numbers in examples are rarely valid.
    return phonenumbers.is_possible_number(number) and len(str(number.national_number)) >= 6


def _worth_parsing(region: str, digits: str) -> bool:
    if region == "US":  # area codes start with 2-9, after an optional country code 1
        return digits[0] != "0"
    if region in _TRUNK_ZERO_ONLY:
        return digits[0] == "0" or digits.startswith(str(phonenumbers.country_code_for_region(region)))
    return True


def _national(candidate: str, digits: str) -> bool:
    for region in NATIONAL_REGIONS:
        if not _worth_parsing(region, digits):
            continue
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        written_as = _digits(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
        national = str(number.national_number)
        if digits in (written_as, f"{number.country_code}{national}"):
            return True
    return False


def is_phone_number(candidate: str) -> bool:
    """True when `candidate` (digits with separators, maybe a leading `+`) is a phone number.

    >>> is_phone_number("+86 138 0013 8000"), is_phone_number("13800138000"), is_phone_number("8812345678")
    (True, True, False)
    """
    digits = _digits(candidate)
    if not 7 <= len(digits) <= 15:
        return False
    start = candidate.lstrip("(（")
    if start.startswith("+"):
        return _international(candidate)
    if start.startswith("00") and not start.startswith("000"):
        return _international("+" + start[2:])
    if not 10 <= len(digits) <= 13:  # short: a local number without its area code, like an order number
        return False  # (13: a country code and 11 digits, 8613800138000)
    if len(_SINGLE_DIGIT_GROUP.findall(candidate)) > 1:  # counting (1 2 3 4 ...), not dialling
        return False
    return _national(candidate, digits) or _NANP_SHAPE.fullmatch(candidate) is not None
