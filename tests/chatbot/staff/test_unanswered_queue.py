"""The unanswered queue through the services: the real embedder, a real SQLite file (and a real
PostgreSQL database), the engine answering real turns. Five similar unanswered questions form
one group; promoting it answers the same question; labels become phrasings."""

from __future__ import annotations

from pathlib import Path

import pytest
from faq_services import SHOP_FAQ, services_with_faq

from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.services import Services
from chatbot.staff.queue_services import TurnLabelRequest
from chatbot.staff.unanswered import parse_group_id

DOGS = ["Are dogs allowed in your store?", "Can I bring my dog inside the store?", "Is my dog welcome in the shop?",
        "Do you allow pets in the store?", "Can dogs come into your store?"]
ELSEWHERE = ["What is the capital of Peru?", "Who won the football world cup in 1998?"]
# The bilingual FAQ of tests/chatbot/test_engine.py: its Chinese entries make "auto" pick e5.
BILINGUAL_FAQ = """id,question,alternates,answer,language
ship-time,How long does shipping take?,When will my order arrive?|delivery time,Standard shipping takes 3-5 business days.,en
returns,Can I return an item?,What is your return policy?|I want to send something back,You can return items within 30 days of delivery.,en
returns-zh,可以退货吗？,退货政策是什么？|我想退回商品,收货后30天内可以退货。,zh
ship-time-zh,发货需要多长时间？,我的订单什么时候到？|配送时间,标准配送需要3-5个工作日。,zh
"""
GIFT_CARDS_ZH = ["你们卖礼品卡吗？", "可以买礼品卡吗？", "有没有礼品卡？", "礼品卡在哪里买？", "你们有礼品卡卖吗？",
                 "我想买一张礼品卡"]


def check_dogs_group_is_promoted(services: Services) -> None:
    for question in DOGS + ELSEWHERE:
        reply = services.engine.respond(None, question)
        assert reply.abstained or reply.action == "clarify", question
    groups = services.unanswered_groups()
    top = groups[0]
    assert top.count == 5 and sorted(top.questions) == sorted(DOGS), [(g.count, g.examples) for g in groups]
    assert top.languages == ["en"] and top.reasons == {"abstain": 5}
    assert top.first_seen <= top.last_seen and len(groups) == 3  # the two others stay apart
    assert parse_group_id(top.group) == min(top.turn_ids)
    assert [g.group for g in services.unanswered_groups()] == [g.group for g in groups]  # stable ids

    done = services.promote_group(top.group, new_id="dogs", answer="Dogs on a leash are welcome.", author="alice")
    assert done.created and done.labelled_turns == 5 and sorted(done.added) == sorted(DOGS)
    reply = services.engine.respond(None, "Can I bring my dog inside the store?")
    assert not reply.abstained and [c.entry_id for c in reply.citations] == ["dogs"], reply
    assert reply.answer == "Dogs on a leash are welcome."
    assert top.group not in [g.group for g in services.unanswered_groups()]
    with pytest.raises(UnknownItem, match="promoted or labelled already"):
        services.promote_group(top.group, entry_id="dogs", author="alice")


def test_five_similar_questions_form_one_group_and_promoting_it_answers_them(make_services) -> None:
    check_dogs_group_is_promoted(make_services(SHOP_FAQ))


@pytest.mark.integration
def test_the_same_on_postgresql(chatbot_home: Path, postgres_db_url: str) -> None:
    services = services_with_faq(chatbot_home, SHOP_FAQ, database_url=postgres_db_url)
    try:
        check_dogs_group_is_promoted(services)
    finally:
        services.database.dispose()


def test_chinese_questions_group_with_the_multilingual_model(make_services) -> None:
    services = make_services(BILINGUAL_FAQ)
    unanswered = []
    for question in GIFT_CARDS_ZH + ELSEWHERE:
        reply = services.engine.respond(None, question)
        if (reply.abstained or reply.action == "clarify") and question in GIFT_CARDS_ZH:
            unanswered.append(question.replace("？", "?"))  # the guard's NFKC folds the full-width mark
    assert len(unanswered) >= 5  # the bilingual FAQ has nothing on gift cards
    groups = services.unanswered_groups()
    assert "multilingual" in services.embedder.model_name
    top = groups[0]
    assert top.count == len(unanswered) and sorted(top.questions) == sorted(unanswered), \
        [(g.count, g.examples) for g in groups]
    assert top.languages == ["zh"]
    services.promote_group(top.group, new_id="gift-cards-zh", answer="我们出售50元和100元的礼品卡。", author="li")
    reply = services.engine.respond(None, unanswered[0])
    assert not reply.abstained and reply.citations[0].entry_id == "gift-cards-zh", reply


def test_promoting_into_an_existing_entry_keeps_the_unticked_questions_queued(make_services) -> None:
    services = make_services(SHOP_FAQ)
    for question in DOGS:
        services.engine.respond(None, question)
    [group] = services.unanswered_groups()
    with pytest.raises(InvalidInput, match="either"):
        services.promote_group(group.group, author="a")
    with pytest.raises(InvalidInput, match="not a question of group"):
        services.promote_group(group.group, entry_id="store-hours", questions=["Something else?"], author="a")
    with pytest.raises(UnknownItem, match="no knowledge-base entry"):
        services.promote_group(group.group, entry_id="no-such-entry", author="a")
    with pytest.raises(Conflict):
        services.promote_group(group.group, new_id="returns", answer="x", author="a")
    with pytest.raises(UnknownItem):
        services.promote_group("123-abcdef", entry_id="returns", author="a")

    done = services.promote_group(group.group, entry_id="store-hours", questions=DOGS[:2], author="alice")
    assert not done.created and done.labelled_turns == 2 and done.added == DOGS[:2]
    assert services.entry("store-hours").alternates[-2:] == DOGS[:2]
    assert sorted(q for g in services.unanswered_groups() for q in g.questions) == sorted(DOGS[2:])


def test_labels_become_phrasings_once_and_staff_edits_stay(make_services) -> None:
    services = make_services(SHOP_FAQ)
    asked = services.engine.respond(None, "Do you allow pets in the store?")
    chose = services.engine.respond(None, "Is there a discount for students?")
    [label] = services.label_turns([TurnLabelRequest(asked.turn_id, "store-hours", "approved")], "alice")
    assert label.expected_id == "store-hours" and label.labelled_by == "alice"
    assert "Do you allow pets in the store?" in services.entry("store-hours").alternates
    # A customer's clarification choice is stored by the engine as the customer's label.
    services.conversations.label_turn(chose.turn_id, "payment", labelled_by="customer")
    assert services.learn_from_labels() == 1
    assert services.engine.respond(None, "Is there a discount for students?").citations[0].entry_id == "payment"
    assert services.learn_from_labels() == 0  # learned once
    # Staff remove a learned phrasing: an older label does not bring it back.
    entry = services.entry("payment")
    services.update_entry("payment", type(entry)("payment", entry.question, entry.answer,
                                                 [a for a in entry.alternates if "students" not in a]), "alice")
    assert services.learn_from_labels() == 0
    # An out-of-scope label adds no phrasing; unknown turns and entries are refused, nothing stored.
    services.label_turns([TurnLabelRequest(chose.turn_id, None)], "alice")
    with pytest.raises(UnknownItem):
        services.label_turns([TurnLabelRequest(10_000, "payment")], "alice")
    with pytest.raises(UnknownItem):
        services.label_turns([TurnLabelRequest(asked.turn_id, "nope")], "alice")
    with pytest.raises(InvalidInput):
        services.label_turns([TurnLabelRequest(asked.turn_id, "payment", "corrected")], "alice")


def test_thumbs_down_and_handed_off_answers_join_the_queue(make_services) -> None:
    services = make_services(SHOP_FAQ)
    disliked = services.engine.respond(None, "How long does shipping take?")
    services.conversations.feedback.give(disliked.turn_id, "down", "too slow")
    handed = services.engine.respond(None, "Can I pay with PayPal?")
    services.engine.respond(handed.conversation_id, "I want to talk to a human")
    reasons = {g.examples[0]: g.reasons for g in services.unanswered_groups()}
    assert reasons == {"How long does shipping take?": {"thumbs_down": 1}, "Can I pay with PayPal?": {"handoff": 1}}
