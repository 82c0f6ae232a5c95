"""Which language a customer writes in, so the reply can follow it.

The script decides first (langdetect reads short Chinese as Korean); langdetect, seeded for
repeatable results, handles Latin-script text; short or uncertain text falls back to English.
"""

from __future__ import annotations

import re
import threading

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

DEFAULT_LANGUAGE = "en"
_MIN_CONFIDENCE = 0.80
_MIN_LATIN_LETTERS = 12  # below this langdetect guesses; the default is a better bet
_lock = threading.Lock()  # langdetect's factory is global state


def detect_language(text: str, seed: int = 0) -> str:
    """An ISO 639-1 code ("en", "zh", "ja", "ko", "fr", ...) for `text`."""
    letters = _LETTER.findall(text)
    if not letters:
        return DEFAULT_LANGUAGE
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if len(_HAN.findall(text)) / len(letters) > 0.2:
        return "zh"
    if len(letters) < _MIN_LATIN_LETTERS:
        return DEFAULT_LANGUAGE
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _lock:
        DetectorFactory.seed = seed
        try:
            best = detect_langs(text)[0]
        except LangDetectException:
            return DEFAULT_LANGUAGE
    if best.prob < _MIN_CONFIDENCE:
        return DEFAULT_LANGUAGE
    return best.lang.split("-")[0]
