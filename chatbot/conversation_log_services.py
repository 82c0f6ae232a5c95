"""The staff's services over the conversation log (issue 15): search and filter, one transcript
with each turn's trace, exports of a selection, the hand-off inbox, and deleting a visitor's
conversations on request with a record of it. Mixed into `chatbot.services.Services` like
`ConversationServices`, so the console pages, the staff API and the CLI call the same ones.

    >>> criteria = services.conversation_filter(action="handoff", date_from="2026-12-01")
    >>> services.search_conversations(criteria, limit=50).total
    >>> services.conversation_detail(cid).messages             # with traces and feedback
    >>> for line in services.export_conversations(criteria, "csv"): ...
    >>> services.inbox()                                       # waiting oldest first, then held
    >>> services.delete_visitor_data(by="ada", reason="Ticket 4411", conversation_id=cid)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from chatbot.conversations.export import MAX_EXPORT_TURNS, check_format, export_lines
from chatbot.conversations.inbox import InboxItem
from chatbot.conversations.privacy import PrivacyDeletion
from chatbot.conversations.search import ConversationDetail, ConversationFilter, ConversationPage, check_filter

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore


class ConversationLogServices:
    """Mixed into `Services`, whose `conversations` (the store) these use."""

    conversations: "ConversationStore"

    @staticmethod
    def conversation_filter(date_from: str | date | None = None, date_to: str | date | None = None,
                            language: str | None = None, channel: str | None = None, action: str | None = None,
                            feedback: str | None = None, text: str | None = None,
                            state: str | None = None) -> ConversationFilter:
        """A checked filter (`chatbot.conversations.search.check_filter`): empty values mean any;
        `InvalidInput` for a bad date, action, feedback or state."""
        return check_filter(date_from, date_to, language, channel, action, feedback, text, state)

    def search_conversations(self, criteria: ConversationFilter, limit: int = 50, offset: int = 0) -> ConversationPage:
        """The conversations the filter keeps, newest first, a page at a time."""
        return self.conversations.search.search(criteria, limit, offset)

    def conversation_facets(self) -> dict[str, list[str]]:
        """The channels and languages logged so far (the filter form's choices)."""
        return self.conversations.search.facets()

    def conversation_detail(self, conversation_id: str) -> ConversationDetail:
        """One conversation in full: who said what and when, each turn's trace, the feedback;
        `InvalidConversation` for an unknown id."""
        return self.conversations.search.detail(conversation_id)

    def export_conversations(self, criteria: ConversationFilter, format: str,
                             max_turns: int = MAX_EXPORT_TURNS) -> Iterator[str]:
        """The turns of the filtered conversations, one row each, as CSV or JSONL lines, read from
        the database in batches as they are consumed; at most `max_turns`. The format is checked
        now (`InvalidInput`), before the first line is asked for."""
        check_format(format)
        return export_lines(self.conversations.search.turns(criteria, max_turns), format)

    def inbox(self) -> list[InboxItem]:
        """Conversations waiting for a human (the longest waiting first), then held ones, each
        with the customer's question and the entries the bot found."""
        return self.conversations.inbox.items()

    def delete_visitor_data(self, by: str, reason: str, conversation_id: str | None = None,
                            email: str | None = None, visitor_token: str | None = None) -> PrivacyDeletion:
        """Delete the conversations of the visitor of `conversation_id` (all bound to the same
        visitor), of `visitor_token`, or of the contact `email` (name exactly one), from every
        table, and record who did it, when, why, how much and a hash of it
        (`chatbot.conversations.privacy`)."""
        return self.conversations.privacy.delete(by, reason, conversation_id, email, visitor_token)

    def privacy_deletions(self, limit: int = 200) -> list[PrivacyDeletion]:
        """The privacy deletions done, newest first."""
        return self.conversations.privacy.records(limit)
