"""The grounding check: is a generated answer supported by the entries it cites?

Run on every answer before it reaches the customer (the engine falls back to the extractive
answer when it fails). Cheap rules first, then an optional NLI model:

1. the answer is not empty;
2. every citation `[n]` refers to an entry that was given (1 … number of entries);
3. every number the answer states (digits, spelled-out, Chinese numerals; see `chatbot.stages.numbers`)
   appears in the cited entries, or in entry [1] when the answer cites none. The customer's own
   words do not count: a number that is not in the entries never passes;
4. the answer is a cited entry's answer word for word, or most of its content terms appear in
   the cited entries: stemmed words (stop words left out) for spaced scripts, characters and
   character pairs for Chinese. An answer without content terms ("No, no.") fails;
5. if an NLI model is configured, the cited entries entail the answer.

    >>> result = check_grounding("Returns are accepted within 45 days [1].", [returns_hit])
    >>> result.grounded, result.reasons
    (False, ('number 45 is not in the cited entries',))

The rules cannot see negation or a swapped subject ("You can't return it" passes where the entry
says you can); that is what the optional NLI model is for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.messages import GroundingResult
from chatbot.stages.numbers import CHINESE_NUMERAL, stated_numbers

if TYPE_CHECKING:
    from chatbot.stages.nli import NliModel
    from knowledge_base.retrieval.lexical import TextTokenizer
    from knowledge_base.retrieval.retriever import Hit

DEFAULT_MIN_OVERLAP = 0.6
# "[1]", "[1][2]", "[1, 3]"
_CITATION = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
# Politeness that any answer may add without a source.
_FILLER = ("please", "thanks", "thank", "sorry", "hello", "yes", "sure", "glad", "happy", "help", "welcome")


def citation_numbers(text: str) -> list[int]:
    """The entry numbers `text` cites as `[n]` (also `[1, 2]`), in order of first appearance."""
    numbers: list[int] = []
    for group in _CITATION.findall(text):
        for number in (int(n) for n in group.split(",")):
            if number not in numbers:
                numbers.append(number)
    return numbers


def strip_citations(text: str) -> str:
    """`text` without its `[n]` markers: "Within 30 days [1]." → "Within 30 days."."""
    return re.sub(r"\s*" + _CITATION.pattern, "", text).strip()


@functools.cache
def _tokenizer_and_stop_words() -> tuple["TextTokenizer", frozenset[str]]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    from knowledge_base.retrieval.lexical import TextTokenizer

    tokenizer = TextTokenizer()  # the BM25 tokenizer: stems, so the stop words are stemmed too
    return tokenizer, frozenset(tokenizer(" ".join([*STOPWORDS_EN_PLUS, *_FILLER])))


def content_terms(text: str) -> set[str]:
    """The terms whose overlap is measured, as the BM25 index tokenises (`knowledge_base.retrieval.lexical`):
    stemmed words of spaced scripts (stop words and politeness left out), the characters and
    character pairs of Chinese; not numbers, which rule 3 checks."""
    tokenizer, stop = _tokenizer_and_stop_words()
    text = CHINESE_NUMERAL.sub(" ", _CITATION.sub(" ", text))
    return {t for t in tokenizer(text) if t not in stop and not t.isdigit()}


def _entry_texts(hit: "Hit") -> list[str]:
    entry = hit.entry
    return [entry.question, *entry.alternates, entry.answer]


def check_grounding(answer: str, hits: Sequence["Hit"], *, language: str = "en",
                    min_overlap: float = DEFAULT_MIN_OVERLAP,
                    default_cited: Sequence[int] = ()) -> GroundingResult:
    """Rules 1-4 of the module's docstring for `answer`, written from `hits` (numbered from 1).

    `default_cited`: the entries an answer that cites none is checked against, instead of [1]
    (a later sentence of a streamed answer is checked against what the earlier ones cited).
    """
    if not 0.0 <= min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be between 0 and 1, not {min_overlap}")
    if not answer.strip():
        return GroundingResult(False, ("the answer is empty",), overlap=0.0)
    reasons: list[str] = []
    # A "[12]" that an entry itself contains is quoted text, not a citation.
    quoted = "\n".join(text for hit in hits for text in _entry_texts(hit))
    markers = [n for n in citation_numbers(answer) if not (n > len(hits) and f"[{n}]" in quoted)]
    invalid = tuple(n for n in markers if not 1 <= n <= len(hits))
    for n in invalid:
        reasons.append(f"cites [{n}], but only {len(hits)} entries were given")
    fallback = tuple(n for n in default_cited if 1 <= n <= len(hits)) or ((1,) if hits else ())
    cited = tuple(n for n in markers if 1 <= n <= len(hits)) or fallback
    sources = [text for n in cited for text in _entry_texts(hits[n - 1])]
    quote = " ".join(strip_citations(answer).split())
    if not reasons and any(quote == " ".join(hits[n - 1].entry.answer.split()) for n in cited):
        return GroundingResult(True, (), cited)  # its source's answer word for word: extractive

    supported: set[str] = set()
    for n, text in ((n, t) for n in cited for t in _entry_texts(hits[n - 1])):
        # Each text on its own: joined texts could merge "… thirty" and "five days" into 35.
        supported |= stated_numbers(text, hits[n - 1].entry.language or language, strict=False)
    unsupported = tuple(sorted(stated_numbers(answer, language) - supported, key=float))
    for number in unsupported:
        reasons.append(f"number {number} is not in the cited entries")

    terms = content_terms(answer)
    known = set().union(*(content_terms(text) for text in sources))
    # An answer without content terms ("No, no, no.", "Yes!") states nothing the entries back.
    overlap = len(terms & known) / len(terms) if terms else 0.0
    if overlap < min_overlap:
        reasons.append(f"only {overlap:.0%} of the answer's terms are in the cited entries "
                       f"(at least {min_overlap:.0%} needed)")
    return GroundingResult(not reasons, tuple(reasons), cited, unsupported, invalid, round(overlap, 4))


@dataclass
class GroundingChecker:
    """The check as the engine runs it: the rules, then the NLI model when one is configured.

    `warm_up()` loads the NLI model (nothing to load without one).
    """

    min_overlap: float = DEFAULT_MIN_OVERLAP
    nli: "NliModel | None" = None
    nli_threshold: float = 0.5

    def warm_up(self) -> None:
        if self.nli is not None:
            self.nli.warm_up()

    def check(self, answer: str, hits: Sequence["Hit"], language: str = "en",
              default_cited: Sequence[int] = ()) -> GroundingResult:
        """The verdict on `answer`; the NLI model only runs on answers that pass the rules.
        `default_cited`: as in `check_grounding`."""
        result = check_grounding(answer, hits, language=language, min_overlap=self.min_overlap,
                                 default_cited=default_cited)
        if not result.grounded or self.nli is None:
            return result
        premise = "\n".join(hits[n - 1].entry.answer for n in result.cited)
        probability = self.nli.entailment(premise, strip_citations(answer))
        reasons = result.reasons
        if probability < self.nli_threshold:
            reasons = (*reasons, f"the cited entries do not entail the answer "
                                 f"(NLI {probability:.2f} < {self.nli_threshold:.2f})")
        return GroundingResult(not reasons, reasons, result.cited, result.unsupported_numbers,
                               result.invalid_citations, result.overlap, round(probability, 4))
