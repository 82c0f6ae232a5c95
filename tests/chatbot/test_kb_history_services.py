"""The knowledge base's history through the services: edits with their author and reason, the
history's field-by-field diff, what an entry said at a logged turn's KB version, and rollbacks
that the very next answer follows (the real embedder, the extractive generator)."""

from __future__ import annotations

import pytest
from faq_services import SHOP_FAQ

from chatbot.errors import InvalidInput, UnknownItem
from knowledge_base.entries import Entry

QUESTION = "How do I return an item?"
OLD = "You can return any item within 30 days for a full refund."
NEW = "You can return any item within 60 days for store credit."


def edit_returns(services, answer: str, reason: str = "") -> Entry:
    current = services.entry("returns")
    return services.update_entry("returns", Entry(**{**current.to_dict(), "answer": answer}), author="eddie",
                                 reason=reason)


def test_an_edit_and_its_rollback_are_the_next_answers_and_the_history_shows_both(make_services) -> None:
    services = make_services(SHOP_FAQ)
    first = services.engine.respond(None, QUESTION)
    assert first.answer == OLD and first.kb_version == 1
    edit_returns(services, NEW, reason="holiday policy")
    assert services.engine.respond(None, QUESTION).answer == NEW

    result = services.rollback_entry("returns", first.kb_version, author="ada", reason="holidays are over")
    assert result.restored == ["returns"] and result.version == 3
    assert services.engine.respond(None, QUESTION).answer == OLD  # the index followed before the call returned

    history = services.entry_history("returns")
    assert [(i.revision.kb_version, i.change, i.revision.author, i.revision.reason) for i in history.items] == [
        (3, "edited", "ada", "holidays are over"), (2, "edited", "eddie", "holiday policy"), (1, "created", "cli", "")]
    assert [i.same_as for i in history.items] == [1, None, None]  # the rollback brought version 1 back
    [answer] = history.items[1].fields
    assert answer.field == "answer" and [(s.op, s.text) for s in answer.spans] == [
        ("same", "You can return any item within "), ("delete", "30"), ("insert", "60"), ("same", " days for "),
        ("delete", "a full refund"), ("insert", "store credit"), ("same", ".")]
    assert services.entry_at("returns", first.kb_version).answer == OLD  # what turn 1 was answered from
    assert services.entry_at("returns", 2).answer == NEW
    assert services.rollback_entry("returns", 1, author="ada").version is None  # says that already
    assert [v.author for v in services.kb_versions()][:3] == ["ada", "eddie", "cli"]


def test_the_whole_kb_rolls_back_and_the_bot_follows(make_services) -> None:
    services = make_services(SHOP_FAQ)
    services.create_entry(Entry("gift-wrap", "Do you offer gift wrapping?", "Yes, for $3."), author="eddie")
    services.delete_entry("payment", author="eddie", reason="cards only soon")
    assert services.engine.respond(None, "Do you offer gift wrapping?").answer == "Yes, for $3."
    result = services.rollback_kb(1, author="ada", reason="undo the week")
    assert (result.restored, result.deleted) == (["payment"], ["gift-wrap"])
    assert "gift" not in services.engine.respond(None, "Do you offer gift wrapping?").answer
    assert services.entry("payment").question == "Which payment methods do you accept?"
    assert [i.change for i in services.entry_history("payment").items] == ["restored", "deleted", "created"]


def test_refusals_say_why(make_services) -> None:
    services = make_services(SHOP_FAQ)
    services.create_entry(Entry("gift-wrap", "Do you offer gift wrapping?", "Yes, for $3."), author="eddie")
    services.delete_entry("gift-wrap", author="eddie")
    with pytest.raises(UnknownItem, match="no knowledge-base entry has id 'nope'"):
        services.entry_history("nope")
    with pytest.raises(UnknownItem, match="did not exist yet at KB version 1: it was created at version 2"):
        services.entry_at("gift-wrap", 1)
    with pytest.raises(UnknownItem, match="was deleted at KB version 3"):
        services.entry_at("gift-wrap", 3)
    with pytest.raises(UnknownItem, match="there is no KB version 9: versions run from 1 to 3"):
        services.entry_at("returns", 9)
    with pytest.raises(UnknownItem, match="there is no KB version 9"):
        services.rollback_kb(9, author="ada")
    with pytest.raises(UnknownItem, match="no knowledge-base entry has id 'nope'"):
        services.rollback_entry("nope", 1, author="ada")
    with pytest.raises(InvalidInput, match="the reason is 501 characters; the limit is 500"):
        services.rollback_kb(1, author="ada", reason="x" * 501)
    assert services.knowledge_base.current_version() == 3  # nothing was changed by a refusal
