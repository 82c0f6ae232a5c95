"""IBANs: the shape, the length each country registered, and the ISO 7064 mod-97 check digits.

The check is ten lines, so no dependency (schwifty, python-stdnum) for it: we only need "is this
an IBAN", not bank lookups or formatting. Country lengths come from the SWIFT IBAN registry;
with the mod-97 check they keep words like `AB12 CDEF ...` and postal tracking codes readable.
"""

from __future__ import annotations

import re

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Written as one block or in groups of four (the paper format), any case; a last short group.
# Glued to a letter only after the word itself (`IBANDE89...`, as typed in Chinese text).
IBAN_CANDIDATE = re.compile(
    r"(?:(?<![0-9A-Za-z_])|(?<=IBAN)|(?<=iban))[A-Za-z]{2}\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?)"
    r"(?![0-9A-Za-z_])"
)


def iban_valid(candidate: str) -> bool:
    """True when `candidate` (spaces allowed, any case) has its country's length and check digits.

    >>> iban_valid("GB82 WEST 1234 5698 7654 32"), iban_valid("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    iban = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isascii() or not iban.isalnum():
        return False
    # Move the country and check digits to the end, letters become 10..35, the number mod 97 is 1.
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def mask_ibans(text: str) -> str:
    """`text` with every valid IBAN replaced by `[iban]`."""
    return IBAN_CANDIDATE.sub(lambda m: "[iban]" if iban_valid(m.group()) else m.group(), text)
