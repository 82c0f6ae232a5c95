"""Releasing a generated answer sentence by sentence, each one checked before the customer sees it.

The engine feeds the generator's pieces to a `SentenceRelease` and passes on what it yields:

    >>> release = SentenceRelease(checker, prompt.hits, "en", fallback=best_entry_answer)
    >>> for piece in generator.stream(prompt):
    ...     yield from release.feed(piece)
    ...     if release.stopped:
    ...         break  # a sentence failed: the generator is stopped
    ... else:
    ...     yield from release.finish()
    >>> release.result().answer  # exactly the pieces given out, joined

What a sentence must pass before it is shown (`chatbot.stages.grounding` for the rules):

1. the sentence on its own: every rule and the NLI model, with a sentence that cites no entry
   checked against the entries cited so far (else entry [1]). A number that is not in those
   entries therefore never reaches the customer, whatever the rest of the answer says;
2. everything shown so far with the sentence: the whole-answer check, so the answer that ends the
   stream has passed exactly the check a held-back answer passed, and every part of it more.

A sentence without content terms ("Sure!", "No.") states nothing the rules could measure on its
own: it waits and is checked with the next sentence. At the end of the answer there is no next
one: it is checked by its numbers and citations, and within the whole answer (rule 2).

When a sentence fails, generation stops. What was shown stays (a stream cannot take it back) and
passed both checks; the failed sentence and anything after it are withheld (`Released.replaced`,
logged in the trace with the verdict's reasons), and the best entry's answer follows after a
blank line, unless it is already there word for word. When nothing was shown yet, the customer gets
the best entry's answer alone, as before streaming. Either way the answer given out is
exactly the concatenation of the pieces: leading and trailing blanks are never given out, and
blanks between sentences only when the next one is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.messages import GroundingResult
from chatbot.stages.grounding import GroundingChecker, check_grounding, citation_numbers, content_terms
from chatbot.stages.sentences import SentenceCutter
from knowledge_base.storable import storable

if TYPE_CHECKING:
    from knowledge_base.retrieval.hits import Hit

# Between the checked sentences already shown and the best entry's answer that replaces the rest.
SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class Released:
    """What a `SentenceRelease` gave out, and why it stopped where it did."""

    answer: str  # the pieces given out, joined: what the customer saw and what is logged
    grounding: GroundingResult  # the whole answer's verdict, or the verdict that stopped it
    replaced: str  # generated text the customer never saw ("" when all of it was shown)
    check_ms: float  # time spent checking, in milliseconds

    @property
    def fell_back(self) -> bool:
        """Whether the best entry's answer was given instead of (the rest of) the generated one."""
        return not self.grounding.grounded


class SentenceRelease:
    """Gives out a streamed answer sentence by sentence, each passing the grounding check
    (see the module's docstring); `fallback` is what replaces the part that fails."""

    def __init__(self, checker: GroundingChecker, hits: Sequence["Hit"], language: str, fallback: str) -> None:
        self.checker = checker
        self.hits = hits
        self.language = language
        self.fallback = fallback
        self.stopped = False  # a sentence failed, the generator failed, or the answer ended
        self._cutter = SentenceCutter()
        self._held = ""  # sentences that state nothing yet, checked with the next one
        self._shown = ""  # what was given out
        self._blank = ""  # blanks after the shown text, given out only before more text
        self._verdict: GroundingResult | None = None
        self._replaced = ""
        self._check_ms = 0.0

    def feed(self, piece: str) -> Iterator[str]:
        """Take the generator's next piece; yield the sentences it completed that passed. After a
        failed check, yield the fallback and set `stopped`: the caller stops the generator."""
        if not self.stopped:
            yield from self._release(self._cutter.feed(piece), last=False)

    def finish(self) -> Iterator[str]:
        """The generator has ended: check and yield the rest."""
        if not self.stopped:
            yield from self._release(self._cutter.finish() or [""], last=True)
        self.stopped = True

    def fail(self, reason: str) -> Iterator[str]:
        """The generator failed (`reason` says how): withhold what is not shown, yield the fallback."""
        if not self.stopped:
            withheld = self._held + self._cutter.pending
            yield from self._stop(withheld, GroundingResult(False, (reason,), overlap=0.0))

    def result(self) -> Released:
        """What was given out; call once `stopped`."""
        assert self.stopped and self._verdict is not None, "the answer has not ended yet"
        return Released(self._shown, self._verdict, storable(self._replaced), round(self._check_ms, 3))

    def _release(self, sentences: list[str], last: bool) -> Iterator[str]:
        for i, sentence in enumerate(sentences):
            final = last and i == len(sentences) - 1
            # Storable text only: a remote model's JSON may hold a lone surrogate, which no
            # response (UTF-8) nor the log could carry. Cut sentences never split a pair.
            unit = self._held + storable(sentence)
            if not final and not content_terms(unit):
                self._held = unit  # "Sure!": nothing to measure yet, checked with what follows
                continue
            self._held = ""
            if final and self._shown and not unit.strip():
                return  # trailing blanks: the answer is complete
            verdict = self._check(unit, final)
            if not verdict.grounded:
                yield from self._stop(unit + "".join(sentences[i + 1:]) + self._cutter.pending, verdict)
                return
            self._verdict = verdict
            text = self._blank + unit if self._shown else unit.lstrip()
            kept = text.rstrip()
            self._blank = text[len(kept):]
            self._shown += kept
            if kept:
                yield kept

    def _check(self, unit: str, final: bool) -> GroundingResult:
        """Rules 1 and 2 of the module's docstring for `unit`, the next part of the answer."""
        started = time.perf_counter()
        cited = [n for n in citation_numbers(self._shown) if 1 <= n <= len(self.hits)]
        try:
            if final and not content_terms(unit):
                # States nothing to measure ("Thanks!"): its numbers and citations on their own,
                # the overlap (and the NLI model) within the whole answer below.
                verdict = check_grounding(unit, self.hits, language=self.language, min_overlap=0.0,
                                          default_cited=cited)
                whole = True
            else:
                verdict = self.checker.check(unit, self.hits, self.language, default_cited=cited)
                whole = bool(self._shown)  # the first sentence alone: that check was the whole one
            if verdict.grounded and whole:
                verdict = self.checker.check(self._shown + self._blank + unit, self.hits, self.language)
            return verdict
        finally:
            self._check_ms += (time.perf_counter() - started) * 1000

    def _stop(self, withheld: str, verdict: GroundingResult) -> Iterator[str]:
        self.stopped = True
        self._verdict, self._replaced = verdict, withheld
        if not self._shown:
            tail = self.fallback
        elif " ".join(self.fallback.split()) in " ".join(self._shown.split()):
            return  # the best entry's answer was already given word for word
        else:
            tail = SEPARATOR + self.fallback
        self._shown += tail
        yield tail
