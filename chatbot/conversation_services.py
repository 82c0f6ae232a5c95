"""The services of conversations with people in them (DESIGN.md "Conversations with people in
them"): a visitor's access to their conversations, the feed their page polls, feedback, a contact
email, and the staff side of a hand-off. Part of the application object: `chatbot.services.Services`
inherits them, so every front door (the HTTP API, the CLI, the console later) calls the same ones.

    >>> services.conversation_for_visitor(cid, token)          # cid, or InvalidConversation (404)
    >>> services.messages_for_visitor(cid, token, after=41)    # a Feed: new messages, state, ...
    >>> services.give_feedback(turn_id, "down", "Wrong order number", token)
    >>> services.waiting_conversations()                       # staff: the queue, oldest first
    >>> services.staff_reply(cid, "Alice", "Hi, I'm checking your order now.")
    >>> services.release_conversation(cid)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.conversations.feed import Feed
from chatbot.conversations.feedback import Feedback, unknown_turn
from chatbot.conversations.handoff import HandoffState, WaitingConversation
from chatbot.errors import InvalidConversation

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore
    from chatbot.settings import Settings


class ConversationServices:
    """Mixed into `Services`, whose `settings` and `conversations` (the store) these use."""

    settings: "Settings"
    conversations: "ConversationStore"

    # -- the customer's side: only the holder of the conversation's visitor token ----------------
    def conversation_for_visitor(self, conversation_id: str, token: str | None, allow_unbound: bool = False) -> str:
        """`conversation_id` if the visitor with `token` may read and continue it, else
        `InvalidConversation` exactly as for an unknown id. `allow_unbound`: a conversation bound
        to no visitor (one started on /v1 without a token) is continued by its id alone."""
        return self.conversations.visitors.check(conversation_id, token, allow_unbound)

    def latest_conversation_for_visitor(self, token: str | None) -> str | None:
        """The conversation the visitor with `token` was last active in (what a reloaded chat
        page shows again), or None."""
        return self.conversations.visitors.latest(token) if token else None

    def messages_for_visitor(self, conversation_id: str, token: str | None, after: int = 0) -> Feed:
        """The conversation's messages after the cursor `after` (a message id; 0: all), its
        state, and whether the customer has waited for a human past `handoff_timeout_s`."""
        self.conversation_for_visitor(conversation_id, token)
        return self.conversations.feed.messages_after(conversation_id, after, self.settings.handoff_timeout_s)

    def leave_contact_email(self, conversation_id: str, token: str | None, email: str) -> str:
        """Store the email the customer leaves to be contacted; `InvalidInput` if it is not one."""
        self.conversation_for_visitor(conversation_id, token)
        return self.conversations.feed.leave_contact(conversation_id, email)

    def give_feedback(self, turn_id: int, rating: str, comment: str | None, token: str | None) -> Feedback:
        """Thumbs "up" or "down" (and a comment) on a turn of the visitor's conversation; a second
        vote replaces the first. A turn that is unknown or of another visitor's conversation is
        `InvalidConversation` alike, naming neither conversation."""
        conversation_id = self.conversations.feedback.turn_conversation(turn_id)
        if conversation_id is None:
            raise unknown_turn(turn_id)
        try:
            self.conversation_for_visitor(conversation_id, token)
        except InvalidConversation:
            raise unknown_turn(turn_id) from None
        return self.conversations.feedback.give(turn_id, rating, comment)

    # -- the staff side (CLI now, the console later) ---------------------------------------------
    def waiting_conversations(self, limit: int = 100) -> list[WaitingConversation]:
        """Conversations waiting for a human, the longest waiting first."""
        return self.conversations.handoff.waiting(limit)

    def take_conversation(self, conversation_id: str, staff: str) -> HandoffState:
        """`staff` holds the conversation: the bot stays quiet in it until it is released."""
        return self.conversations.handoff.take(conversation_id, staff)

    def staff_reply(self, conversation_id: str, staff: str, text: str) -> int:
        """Send `text` to the customer as `staff` (taking the conversation); the message's id.
        The text passes the storable boundary and `max_message_chars` (`InvalidInput`)."""
        return self.conversations.handoff.staff_reply(conversation_id, staff, text, self.settings.max_message_chars)

    def release_conversation(self, conversation_id: str) -> HandoffState:
        """Give the conversation back to the bot."""
        return self.conversations.handoff.release(conversation_id)
