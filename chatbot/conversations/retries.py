"""A retried turn answered from the log: the client sends the same turn key (`Idempotency-Key`)
with every attempt of one message, and a turn already logged under it is given again instead
of being answered and logged twice (`ChatEngine.stream(..., turn_key=)`).

    >>> answer_from_log(store, entries, key, None, "Where is my order?")   # a Reply, or None
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chatbot.errors import InvalidInput
from chatbot.messages import ACTIONS, Citation, Reply
from knowledge_base.entries import Entry

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore, KeyedTurn


def answer_from_log(store: "ConversationStore", entries: Mapping[str, Entry], turn_key: str,
                    conversation_id: str | None, text: str, visitor_hash: str | None = None) -> Reply | None:
    """The reply logged under `turn_key` for `text`, rebuilt, or None. `InvalidInput` when
    the key is malformed (`check_turn_key`) or was used for another message, or in another
    conversation than `conversation_id` (None: a first turn, whose conversation the client
    could not know yet). The retry of a conversation's first turn binds the conversation to
    `visitor_hash` when given: the lost answer carried the visitor's cookie too, so the
    retry's client holds another token (or the same, and nothing changes); the turn key,
    known only to the client that sent the turn, is what proves it is that client."""
    found = store.find_turn(turn_key, text)
    if found is None:
        return None
    if conversation_id is not None and found.conversation_id != conversation_id:
        raise InvalidInput(f"The turn key {turn_key!r} was already used in another conversation: "
                           "send a new key with each new message.")
    if conversation_id is None and visitor_hash is not None:
        if not found.first:
            raise InvalidInput(f"The turn key {turn_key!r} was used for a later message of a conversation: "
                               "send its conversation id with the retry.")
        store.visitors.rebind(found.conversation_id, visitor_hash)
    return logged_reply(found, entries)


def logged_reply(turn: "KeyedTurn", entries: Mapping[str, Entry]) -> Reply:
    """A logged turn as the `Reply` it was: its answer, decision, sources (their questions as
    the knowledge base has them now) and timings. What a retried turn is answered with."""
    trace = turn.trace
    citations = [Citation(n, entry_id, entries[entry_id].question if entry_id in entries else "",
                          round(float(score), 4), entries[entry_id].url if entry_id in entries else "")
                 for n, (entry_id, score) in enumerate(zip(trace.entry_ids, trace.scores), start=1)]
    action = trace.decision if trace.decision in ACTIONS else ""
    abstained = trace.decision in ("abstain", "rejected", "handoff")
    return Reply(turn.conversation_id, turn.answer, abstained, trace.language, citations,
                 citations[0].score if citations else 0.0, trace.generator, trace.kb_version,
                 dict(trace.timings), rejected="logged" if trace.decision == "rejected" else "",
                 query=trace.query, action=action, turn_id=trace.id)
