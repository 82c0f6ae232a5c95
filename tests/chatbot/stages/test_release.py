"""Releasing a streamed answer sentence by sentence: each sentence passes the grounding check on
its own and within everything shown before it; what fails is withheld and the best entry's
answer follows. The real grounding check, fed word by word as a generator streams."""

from __future__ import annotations

from chatbot.stages.grounding import GroundingChecker
from chatbot.stages.release import SEPARATOR, Released, SentenceRelease
from knowledge_base.entries import Entry
from knowledge_base.retrieval.hits import Hit

RETURNS = Entry("returns", "Can I return an item?", "You can return items within 30 days of delivery.")
EXPRESS = Entry("express", "How fast is express shipping?",
                "Express shipping arrives in 1-2 business days and costs $14.99.")
HITS = [Hit(RETURNS, 0.9, RETURNS.question), Hit(EXPRESS, 0.8, EXPRESS.question)]


def released(text: str, hits: list[Hit] = HITS, language: str = "en") -> tuple[list[str], Released, int]:
    """Stream `text` word by word through a release: the pieces given out, the result, and how many
    words were read before it stopped reading."""
    release = SentenceRelease(GroundingChecker(), hits, language, fallback=hits[0].entry.answer)
    words = text.split(" ")
    pieces: list[str] = []
    read = 0
    for i, word in enumerate(words):
        read += 1
        pieces += release.feed(word if i == 0 else " " + word)
        if release.stopped:
            break
    else:
        pieces += release.finish()
    result = release.result()
    assert "".join(pieces) == result.answer  # what was given out is the answer, exactly
    return pieces, result, read


def test_checked_sentences_are_given_out_one_by_one() -> None:
    pieces, result, _ = released("  You can return items within 30 days [1]. Express shipping costs $14.99 [2]. ")
    assert pieces == ["You can return items within 30 days [1].", " Express shipping costs $14.99 [2]."]
    assert result.grounding.grounded and result.grounding.cited == (1, 2) and result.replaced == ""
    assert not result.fell_back


def test_a_sentence_with_a_number_not_in_the_entries_is_never_shown() -> None:
    text = "You can return items within 30 days [1]. Refunds take 45 days [1]. Anything else?"
    pieces, result, read = released(text)
    assert pieces == ["You can return items within 30 days [1].", SEPARATOR + RETURNS.answer]
    assert "45" not in result.answer and result.replaced == "Refunds take 45 days [1]. Anything"
    assert result.grounding.unsupported_numbers == ("45",) and result.fell_back
    assert read == 14  # stopped reading once the failing sentence was complete (one word after it)


def test_a_sentence_that_cites_nothing_is_checked_against_what_was_cited_before() -> None:
    # Entry [1] says 30 days, but the answer so far is about entry [2]: "30" is not backed there.
    _, result, _ = released("Express shipping arrives in 1-2 business days [2]. It takes 30 days.")
    assert result.replaced == "It takes 30 days." and "number 30" in result.grounding.reasons[0]
    _, result, _ = released("Express shipping arrives in 1-2 business days [2]. It costs $14.99.")
    assert result.grounding.grounded and result.answer.endswith("It costs $14.99.")


def test_a_sentence_is_checked_within_the_whole_answer_too() -> None:
    # Each sentence passes alone, but together they cite only [2], which does not say 30 days:
    # the whole-answer check (what a held-back answer had to pass) stops the second one.
    pieces, result, _ = released("You can return items within 30 days. Express shipping costs $14.99 [2].")
    assert pieces == ["You can return items within 30 days.", SEPARATOR + RETURNS.answer]
    assert result.replaced == "Express shipping costs $14.99 [2]."
    assert result.grounding.unsupported_numbers == ("30",)


def test_a_first_sentence_that_fails_leaves_the_best_answer_alone() -> None:
    pieces, result, read = released("You can return items within 60 days. Express costs $14.99 [2].")
    assert pieces == [RETURNS.answer] and result.replaced.startswith("You can return items within 60 days.")
    assert read == 8


def test_a_sentence_that_states_nothing_waits_for_the_next() -> None:
    pieces, result, _ = released("Sure! You can return items within 30 days [1]. Thanks!")
    assert pieces == ["Sure! You can return items within 30 days [1].", " Thanks!"]
    assert result.grounding.grounded
    # Alone, "Yes." states nothing any entry backs: it fails as a whole answer would.
    pieces, result, _ = released("Yes.")
    assert pieces == [RETURNS.answer] and result.replaced == "Yes."


def test_the_best_answer_is_not_repeated_when_it_was_already_given() -> None:
    pieces, result, _ = released(f"{RETURNS.answer} Express shipping is 99 dollars [2].")
    assert pieces == [RETURNS.answer] and result.answer == RETURNS.answer and result.fell_back


def test_a_generator_that_fails_midway_keeps_what_was_checked() -> None:
    release = SentenceRelease(GroundingChecker(), HITS, "en", fallback=RETURNS.answer)
    pieces = [*release.feed("You can return items within 30 days [1]. Express"),
              *release.fail("generator failed: connection reset")]
    result = release.result()
    assert pieces == ["You can return items within 30 days [1].", SEPARATOR + RETURNS.answer]
    assert result.replaced == "Express" and result.grounding.reasons == ("generator failed: connection reset",)


def test_chinese_sentences_are_checked_one_by_one() -> None:
    returns = Entry("returns-zh", "可以退货吗？", "收货后30天内可以退货。退款会在5个工作日内到账。", language="zh")
    hits = [Hit(returns, 0.9, returns.question)]
    text = "您可以在收货后三十天内退货[1]。退款会在五个工作日内到账[1]。运费是十元[1]。"
    # Streamed as a model writes Chinese: a character or two at a time.
    release = SentenceRelease(GroundingChecker(), hits, "zh", fallback=returns.answer)
    pieces: list[str] = []
    for i in range(0, len(text), 2):
        pieces += release.feed(text[i:i + 2])
        if release.stopped:
            break
    else:
        pieces += release.finish()
    result = release.result()
    assert pieces == ["您可以在收货后三十天内退货[1]。", "退款会在五个工作日内到账[1]。", SEPARATOR + returns.answer]
    assert result.replaced == "运费是十元[1]。" and result.grounding.unsupported_numbers == ("10",)
