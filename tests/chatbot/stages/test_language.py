"""Language detection: script first, then seeded langdetect, English when unsure."""

from __future__ import annotations

import pytest

from chatbot.stages.language import detect_language


@pytest.mark.parametrize(("text", "language"), [
    ("退货", "zh"),  # two characters: langdetect alone would often say Korean
    ("我的订单什么时候到？", "zh"),
    ("订单 order 123", "zh"),
    ("How long does shipping take to Canada?", "en"),
    ("hi", "en"),
    ("12345 ???", "en"),
    ("Combien de temps prend la livraison au Canada ?", "fr"),
    ("Wie lange dauert der Versand nach Deutschland?", "de"),
    ("注文はいつ届きますか", "ja"),
    ("배송은 얼마나 걸리나요", "ko"),
])
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_detection_is_repeatable() -> None:
    text = "Envio para Portugal demora quanto tempo?"
    assert len({detect_language(text, seed=0) for _ in range(5)}) == 1
