"""Conversation logs for the analytics tests, made through the real engine on the demo KB: every
turn is answered, clarified, abstained on or handed off by the engine and logged by the store;
only the times (moved onto chosen days) and latencies (made exact) are set afterwards.

    log = small_log(services, date(2026, 3, 1))     # the exact log `SMALL_LOG_EXPECTED` describes
    seed_weeks(services, date(2026, 3, 14), days=14) # a fortnight of varied traffic, for screenshots
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chatbot.conversations.tables import ConversationRow, MessageRow, TurnTraceRow
from chatbot.engine import ChatEngine
from chatbot.services import Services

AMBIGUOUS = "I have a problem with my order"  # the demo KB clarifies it between order entries
OFF_TOPIC = "What is the capital of Peru?"


def move_conversation(services: Services, conversation_id: str, when: datetime) -> None:
    """Put a conversation and its turns at `when` (its turns a second apart, in order)."""
    with Session(services.database) as session, session.begin():
        session.execute(update(ConversationRow).where(ConversationRow.id == conversation_id)
                        .values(created_at=when, updated_at=when))
        session.execute(update(MessageRow).where(MessageRow.conversation_id == conversation_id).values(created_at=when))
        turns = session.scalars(select(TurnTraceRow.id).where(TurnTraceRow.conversation_id == conversation_id)
                                .order_by(TurnTraceRow.id)).all()
        for k, turn_id in enumerate(turns):
            session.execute(update(TurnTraceRow).where(TurnTraceRow.id == turn_id)
                            .values(created_at=when + timedelta(seconds=k)))


def set_latencies(services: Services, latency_of: dict[int, float]) -> None:
    with Session(services.database) as session, session.begin():
        for turn_id, ms in latency_of.items():
            session.execute(update(TurnTraceRow).where(TurnTraceRow.id == turn_id).values(latency_ms=ms))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def _turn(services: Services, engine: ChatEngine, cid: str | None, text: str, kind: str, **options: str):
    reply = engine.respond(cid, text, **options)
    assert reply.kind == kind, (text, reply.kind)
    return reply


def small_log(services: Services, first: date) -> dict[str, str]:
    """Seven conversations over three days from `first` (see `SMALL_LOG_EXPECTED`); returns the
    entry id the customer chose in the clarification."""
    web = services.engine
    api = ChatEngine(services.settings, services.retriever, services.generator, services.conversations, channel="api")
    feedback = services.conversations.feedback
    day1, day2 = first + timedelta(days=1), first + timedelta(days=2)

    c1 = _turn(services, web, None, "How long does shipping take?", "answer")
    feedback.give(c1.turn_id, "up")
    move_conversation(services, c1.conversation_id, at(first, 9))
    c2 = _turn(services, web, None, "How do I return an item?", "answer")
    feedback.give(c2.turn_id, "down", "Too slow")
    move_conversation(services, c2.conversation_id, at(first, 10))
    c7 = _turn(services, web, None, OFF_TOPIC, "abstain")
    move_conversation(services, c7.conversation_id, at(first, 23, 59))  # the day's last minute

    c3 = _turn(services, web, None, AMBIGUOUS, "clarify")
    chosen = c3.options[0].entry_id
    _turn(services, web, c3.conversation_id, "", "answer", choice=chosen)
    move_conversation(services, c3.conversation_id, at(day1, 0, 0))  # the next day's first minute
    c4 = _turn(services, api, None, AMBIGUOUS, "clarify")
    _turn(services, api, c4.conversation_id, "I want to talk to a human", "handoff")
    move_conversation(services, c4.conversation_id, at(day1, 14))

    c5 = _turn(services, web, None, "你好", "smalltalk")
    c5b = _turn(services, web, c5.conversation_id, "How long does shipping take?", "answer")
    feedback.give(c5b.turn_id, "up")
    move_conversation(services, c5.conversation_id, at(day2, 8))
    c6 = _turn(services, web, None, OFF_TOPIC, "abstain")
    services.staff_reply(c6.conversation_id, "alice", "Lima. Anything about your order?")
    services.release_conversation(c6.conversation_id)  # back to the bot: it still reached a human
    move_conversation(services, c6.conversation_id, at(day2, 11))

    with Session(services.database) as session:
        turns = session.scalars(select(TurnTraceRow.id).order_by(TurnTraceRow.id)).all()
    set_latencies(services, {turn_id: 100.0 * (k + 1) for k, turn_id in enumerate(turns)})
    return {"chosen": chosen}


# What `small_log` makes, counted by hand: 7 conversations, 10 turns with latencies 100..1000 ms.
SMALL_LOG_EXPECTED = {
    "conversations_per_day": [3, 2, 2],
    "turns_per_day": [{"answer": 2, "abstain": 1}, {"clarify": 2, "answer": 1, "handoff": 1},
                      {"smalltalk": 1, "answer": 1, "abstain": 1}],
    # questions = 4 answered + 2 clarified - 1 chosen + 2 abstained + 1 handed off = 8
    "resolution": {"answered": 4, "clarified": 2, "clarified_chosen": 1, "abstained": 2, "handed_off": 1,
                   "questions": 8, "rate": 0.5},
    "deflection": {"conversations": 7, "reached_human": 2, "rate": 0.7143},  # c4 handed off, c6 staff
    "feedback": {"up": 2, "down": 1, "ratio": 0.6667},
    "top_unanswered": [("i have a problem with my order", 2), ("what is the capital of peru?", 2),
                       ("i want to talk to a human", 1)],
    "languages": [("en", 9), ("zh", 1)],
    # p50: rank 0.5 * 9 = 4.5, between 500 and 600; p95: rank 8.55, between 900 and 1000.
    "latency": {"turns": 10, "p50_ms": 550.0, "p95_ms": 955.0, "histogram": [0, 2, 2, 5, 1, 0, 0]},
}

QUESTIONS = ["How long does shipping take?", "Where is my order?", "How do I return an item?",
             "Can I pay with PayPal?", "Do you ship internationally?", "How do I reset my password?",
             "Can I change my delivery address?", "When will I get my refund?", "Do you have gift cards?",
             "How do I cancel my order?", "我的订单在哪里？", "Wie lange dauert der Versand?"]
UNANSWERED = [OFF_TOPIC, "Do you sell car insurance?", "Is the store open on Christmas?", AMBIGUOUS,
              "I want to talk to a human", "Can I bring my dog?"]


def seed_weeks(services: Services, last: date, days: int = 14, seed: int = 7) -> int:
    """A varied log over `days` days up to `last` (8-24 conversations a day, a few turns each,
    some feedback, latencies like a small local generator's); returns how many turns."""
    rng = random.Random(seed)
    feedback = services.conversations.feedback
    turns = 0
    for offset in range(days):
        day = last - timedelta(days=days - 1 - offset)
        for _ in range(rng.randint(8, 24) + (6 if day.weekday() < 5 else 0)):
            cid = None
            for _ in range(rng.choice((1, 1, 2, 3))):
                text = rng.choice(UNANSWERED) if rng.random() < 0.22 else rng.choice(QUESTIONS)
                reply = services.engine.respond(cid, text)
                cid, turns = reply.conversation_id, turns + 1
                if reply.kind == "clarify" and rng.random() < 0.6:
                    services.engine.respond(cid, "", choice=reply.options[0].entry_id)
                    turns += 1
                elif reply.kind == "answer" and rng.random() < 0.3:
                    feedback.give(reply.turn_id, "up" if rng.random() < 0.8 else "down")
                if services.conversations.handoff.state(cid).state != "bot":
                    break
            move_conversation(services, cid, at(day, rng.randint(7, 21), rng.randint(0, 59)))
    with Session(services.database) as session:
        ids = session.scalars(select(TurnTraceRow.id)).all()
    set_latencies(services, {i: round(rng.lognormvariate(6.4, 0.55), 1) for i in ids})
    return turns
