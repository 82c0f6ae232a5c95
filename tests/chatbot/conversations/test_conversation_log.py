"""The staff's view of the log on SQLite and a real PostgreSQL: search with every filter, one
conversation in full, exports, the inbox, and privacy deletions that leave nothing of the
visitor in any table of the schema (enumerated from the metadata) nor in an export."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from chatbot.conversations.export import export_lines
from chatbot.conversations.ids import new_conversation_id
from chatbot.conversations.labels import TurnLabelRow  # noqa: F401  (registers the table)
from chatbot.conversations.privacy import dependent_tables
from chatbot.conversations.search import ConversationFilter, check_filter
from chatbot.conversations.store import ConversationStore
from chatbot.conversations.tables import ConversationRow
from chatbot.conversations.visitors import visitor_hash
from chatbot.errors import InvalidConversation, InvalidInput
from chatbot.messages import Citation, GroundingResult, Reply
from knowledge_base.db_models import Base, utcnow

VISITOR, OTHER = "v" * 43, "w" * 43


def reply(answer: str, action: str = "", entries: tuple[tuple[str, float], ...] = (), language: str = "en",
          grounded: bool | None = None) -> Reply:
    citations = [Citation(n, i, f"Q {i}", s) for n, (i, s) in enumerate(entries, start=1)]
    grounding = None if grounded is None else GroundingResult(grounded, () if grounded else ("unsupported number 7",))
    return Reply("", answer, action in ("abstain", "handoff"), language, citations, 0.8, "extractive", 3,
                 action=action, query="q", grounding=grounding)


def conversation(store: ConversationStore, turns: list[tuple[str, Reply]], channel: str = "web",
                 visitor: str | None = None) -> tuple[str, list[int]]:
    cid = new_conversation_id()
    ids = [store.log_turn(cid, question, answer, channel=channel,
                          visitor_hash=visitor_hash(visitor) if visitor else None)
           for question, answer in turns]
    return cid, ids


@pytest.fixture
def logged(store: ConversationStore) -> dict[str, str]:
    """Three conversations: answered with a thumbs up (web), handed off (widget, Chinese), and a
    clarification with a thumbs down (web); the first and the last are the same visitor's."""
    shipping, [turn] = conversation(store, [("Where is my parcel?", reply("It ships in 3 days.", "answer",
                                                                          (("shipping-time", 0.91),), grounded=True))],
                                    visitor=VISITOR)
    store.feedback.give(turn, "up")
    human, _ = conversation(store, [("退货怎么办?", reply("…", "abstain", language="zh")),
                                    ("我要人工客服", reply("正在转接…", "handoff", language="zh"))], channel="widget",
                            visitor=OTHER)
    gifts, [_, clarified] = conversation(store, [("hello", reply("Hi!", "smalltalk")),
                                                 ("gift cards 50%_off", reply("Did you mean…", "clarify"))],
                                         visitor=VISITOR)
    store.feedback.give(clarified, "down", "=HYPERLINK(\"http://evil\")")
    store.label_turn(clarified, "gift-card-expiry", labelled_by="ada")
    return {"shipping": shipping, "human": human, "gifts": gifts}


def found(store: ConversationStore, **filters: str) -> list[str]:
    return [c.id for c in store.search.search(check_filter(**filters)).conversations]


def test_every_filter_narrows_the_search_newest_first(store: ConversationStore, logged: dict[str, str]) -> None:
    assert found(store) == [logged["gifts"], logged["human"], logged["shipping"]]
    assert found(store, action="handoff") == [logged["human"]]
    assert found(store, action="clarify") == [logged["gifts"]]
    assert found(store, feedback="down") == [logged["gifts"]]
    assert found(store, feedback="any") == [logged["gifts"], logged["shipping"]]
    assert found(store, channel="widget") == [logged["human"]]
    assert found(store, language="zh") == [logged["human"]]
    assert found(store, state="waiting") == [logged["human"]]
    assert found(store, text="PARCEL") == [logged["shipping"]]
    assert found(store, text="50%_") == [logged["gifts"]]  # % and _ are text, not wildcards
    assert found(store, text="0%x") == []
    today = utcnow().date()
    assert len(found(store, date_from=str(today), date_to=str(today))) == 3
    assert found(store, date_to=str(today - timedelta(days=1))) == []
    assert found(store, action="answer", channel="widget") == []  # filters combine with AND
    page = store.search.search(ConversationFilter(), limit=2, offset=1)
    assert page.total == 3 and [c.id for c in page.conversations] == [logged["human"], logged["shipping"]]
    shipping = page.conversations[1]
    assert shipping.first_question == "Where is my parcel?" and shipping.actions == ("answer",)
    assert (shipping.turns, shipping.thumbs_up, shipping.thumbs_down) == (1, 1, 0)
    assert store.search.facets() == {"channel": ["web", "widget"], "language": ["en", "zh"]}


@pytest.mark.parametrize("bad", [{"date_from": "yesterday"}, {"action": "dance"}, {"feedback": "meh"},
                                 {"state": "asleep"}, {"text": "x" * 201},
                                 {"date_from": "2026-12-06", "date_to": "2026-12-01"}])
def test_bad_filters_say_what_a_good_one_is(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        check_filter(**bad)


def test_the_detail_has_every_message_its_trace_and_feedback(store: ConversationStore, logged: dict[str, str]) -> None:
    store.handoff.staff_reply(logged["human"], "eddie", "Hi, Eddie here.", 2000)
    detail = store.search.detail(logged["human"])
    assert [m.author for m in detail.messages] == ["customer", "bot", "customer", "bot", "staff:eddie"]
    assert detail.messages[1].trace.decision == "abstain" and detail.messages[4].trace is None
    assert detail.conversation.state == "human" and detail.conversation.held_by == "eddie"
    shipping = store.search.detail(logged["shipping"])
    trace = shipping.messages[1].trace
    assert trace.entry_ids == ["shipping-time"] and trace.grounded is True and trace.kb_version == 3
    assert shipping.feedback[trace.id].rating == "up"
    with pytest.raises(InvalidConversation):
        store.search.detail(new_conversation_id())


def test_exports_have_one_row_per_turn_in_both_formats(store: ConversationStore, logged: dict[str, str]) -> None:
    rows = list(store.search.turns(ConversationFilter(), max_turns=100, batch=2))  # batches join up
    assert len(rows) == 5 and [r.trace.id for r in rows] == sorted(r.trace.id for r in rows)
    table = list(csv.DictReader(io.StringIO("".join(export_lines(rows, "csv")))))
    assert len(table) == 5 and table[0]["entry_ids"] == "shipping-time" and table[0]["feedback"] == "up"
    assert table[-1]["feedback_comment"].startswith("'=HYPERLINK")  # no formula for a spreadsheet
    lines = [json.loads(line) for line in export_lines(rows, "jsonl")]
    assert lines[-1]["feedback_comment"].startswith("=HYPERLINK") and lines[0]["scores"] == [0.91]
    waiting = list(store.search.turns(check_filter(action="handoff"), max_turns=100))
    assert {r.conversation_id for r in waiting} == {logged["human"]} and len(waiting) == 2
    assert len(list(store.search.turns(ConversationFilter(), max_turns=3, batch=2))) == 3  # bounded


def test_the_inbox_lists_waiting_oldest_first_then_held_with_what_the_bot_found(store: ConversationStore) -> None:
    first, _ = conversation(store, [("Can I return shoes?", reply("Returns take 30 days.", "answer",
                                                                  (("returns", 0.62), ("refunds", 0.58)))),
                                    ("a human please", reply("Connecting…", "handoff"))])
    second, _ = conversation(store, [("a human please", reply("Connecting…", "handoff"))])
    held, _ = conversation(store, [("a human please", reply("Connecting…", "handoff"))])
    store.handoff.take(held, "eddie")
    conversation(store, [("hello", reply("Hi!", "smalltalk"))])  # the bot's: not in the inbox
    items = store.inbox.items()
    assert [(i.id, i.state) for i in items] == [(first, "waiting"), (second, "waiting"), (held, "human")]
    assert items[0].question == "a human please" and items[0].found == (("returns", 0.62), ("refunds", 0.58))
    assert items[0].found_for == "q" and items[0].kb_version == 3
    assert items[1].found == () and items[2].held_by == "eddie"


def _everything(store: ConversationStore) -> str:
    """Every row of every table of the schema, as one text."""
    engine = store._engine  # noqa: SLF001  (the test reads the raw tables)
    with engine.connect() as connection:
        return "\n".join(repr(row) for table in Base.metadata.sorted_tables
                         for row in connection.execute(select(table)).all())


def test_deleting_a_visitors_data_leaves_nothing_of_it_anywhere(store: ConversationStore,
                                                                logged: dict[str, str]) -> None:
    shipping, gifts, human = logged["shipping"], logged["gifts"], logged["human"]
    traces = [m.trace.id for m in store.search.detail(gifts).messages if m.trace]
    before = _everything(store)
    assert "Where is my parcel?" in before and "gift cards 50%_off" in before
    done = store.privacy.delete(by="ada", reason="Ticket 4411: the customer asked", conversation_id=gifts)
    # Both of the visitor's conversations went; the other visitor's stayed.
    assert (done.conversations, done.messages, done.turns) == (2, 6, 3) and done.selected_by == "conversation"
    assert done.deleted_by == "ada" and len(done.content_sha256) == 64
    after = _everything(store)
    for gone in ("Where is my parcel?", "gift cards 50%_off", "It ships in 3 days.", "HYPERLINK", shipping, gifts,
                 visitor_hash(VISITOR), "gift-card-expiry"):
        assert gone not in after, gone
    assert "我要人工客服" in after and human in after
    assert store.feedback.of_turn(traces[-1]) is None
    exported = "".join(export_lines(store.search.turns(ConversationFilter(), 1000), "jsonl"))
    assert "parcel" not in exported and "gift" not in exported and human in exported
    [record] = store.privacy.records()
    assert record == done and "Where is my parcel" not in repr(record)
    with pytest.raises(InvalidConversation):
        store.privacy.delete(by="ada", reason="again", conversation_id=gifts)


def test_deleting_by_contact_email_and_refusals(store: ConversationStore, logged: dict[str, str]) -> None:
    store.feed.leave_contact(logged["human"], "Mei@Example.com")
    done = store.privacy.delete(by="ada", reason="email request", email="mei@example.com")
    assert done.selected_by == "email" and done.conversations == 1 and done.turns == 2
    assert store.search.search(ConversationFilter()).total == 2
    with pytest.raises(InvalidInput, match="why"):
        store.privacy.delete(by="ada", reason="  ", conversation_id=logged["gifts"])
    with pytest.raises(InvalidInput, match="Name one of"):
        store.privacy.delete(by="ada", reason="x")
    with pytest.raises(InvalidInput, match="Name one of"):
        store.privacy.delete(by="ada", reason="x", email="mei@example.com", visitor_token=VISITOR)
    with pytest.raises(InvalidInput, match="visitor token is not valid"):
        store.privacy.delete(by="ada", reason="x", visitor_token="short")
    with pytest.raises(InvalidConversation):
        store.privacy.delete(by="ada", reason="x", email="nobody@example.com")
    assert len(store.privacy.records()) == 1
    by_token = store.privacy.delete(by="ada", reason="server-side client's request", visitor_token=VISITOR)
    assert (by_token.selected_by, by_token.conversations) == ("visitor", 2)
    assert store.search.search(ConversationFilter()).total == 0
    with pytest.raises(InvalidConversation):
        store.privacy.delete(by="ada", reason="again", visitor_token=VISITOR)


def test_a_conversation_bound_to_no_visitor_goes_alone(store: ConversationStore) -> None:
    alone, _ = conversation(store, [("Where is my parcel?", reply("Soon."))])
    other, _ = conversation(store, [("Where is my parcel?", reply("Soon."))])
    assert store.privacy.delete(by="ada", reason="r", conversation_id=alone).conversations == 1
    assert found(store) == [other]


def test_the_deletion_reaches_every_table_that_refers_to_conversations() -> None:
    reached = {table.name for table, _ in dependent_tables(["x"])}
    assert {"conversations", "messages", "turn_traces", "turn_feedback", "turn_labels"} <= reached
    assert "privacy_deletions" not in reached and "kb_entries" not in reached
    names = [table.name for table, _ in dependent_tables(["x"])]
    assert names.index("turn_feedback") < names.index("turn_traces") < names.index("messages") < names.index(
        "conversations")  # children first


def test_sqlite_leaves_no_trace_of_deleted_text_in_the_file(store: ConversationStore, logged: dict[str, str]) -> None:
    engine = store._engine  # noqa: SLF001
    if engine.dialect.name != "sqlite":
        pytest.skip("the file check is SQLite's")
    store.privacy.delete(by="ada", reason="r", conversation_id=logged["shipping"])
    path = engine.url.database
    raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if __import__("os").path.exists(p))
    assert b"Where is my parcel?" not in raw and "退货".encode() in raw


def test_old_dates_filter_on_when_the_conversation_started(store: ConversationStore, logged: dict[str, str]) -> None:
    with store._engine.begin() as connection:  # noqa: SLF001
        connection.execute(update(ConversationRow).where(ConversationRow.id == logged["shipping"])
                           .values(created_at=utcnow() - timedelta(days=10)))
    day = (utcnow() - timedelta(days=10)).date()
    assert found(store, date_from=str(day), date_to=str(day)) == [logged["shipping"]]
    assert isinstance(check_filter(date_from=date(2026, 1, 1)).date_from, date)
