"""The typed errors of the product (DESIGN.md "Errors are typed…").

Each failure a customer or a client can meet has one type here. They are raised where the failure
is met (the conversation store translates the database driver's errors into them, once), and each
front door maps each type to one status and one message:

    >>> try:
    ...     engine.respond("0" * 32, "Where is my order?")
    ... except InvalidConversation as error:
    ...     print(error)          # says what to do: leave the id out to start a new conversation

None of them is a `ValueError`: a `ValueError` from deep inside retrieval, generation or a driver
is a bug to log, never a message about the customer's conversation id.
"""

from __future__ import annotations


class ChatbotError(Exception):
    """Base of the typed errors. `public_message` is what a customer may be shown when the
    error's own message is for the operator (it names a database URL, for instance)."""

    public_message = "The request could not be answered."

    @property
    def customer_message(self) -> str:
        """The message for the customer or client: the error's own, unless it is for operators."""
        return str(self) or self.public_message


class InvalidConversation(ChatbotError):
    """A conversation id that the server did not issue: unknown, or not of the issued form."""


class InvalidInput(ChatbotError):
    """Input that cannot be stored (a value over its column's size) or is over a limit; the
    message says what was wrong with it. A lone surrogate or a NUL is not one: the stores keep it
    as U+FFFD (`knowledge_base.storable`)."""


class DatabaseUnavailable(ChatbotError):
    """The database cannot be reached or opened; the message names it (password masked) and is
    for operators: customers are shown `public_message`."""

    public_message = ("The service is temporarily unavailable: its database cannot be reached. "
                      "Please try again in a few minutes.")

    @property
    def customer_message(self) -> str:
        return self.public_message


class DatabaseBusy(DatabaseUnavailable):
    """The database is locked or out of connections, still after a few retries. A kind of
    unavailability that passes soon: callers that only know `DatabaseUnavailable` treat it as
    such; HTTP front doors add `Retry-After: RETRY_AFTER_S`."""

    public_message = "The service is busy right now. Please try again in a few seconds."
    RETRY_AFTER_S = 2


class UnknownItem(ChatbotError):
    """A thing a staff request names does not exist: an entry id, a staff account's name."""


class Conflict(ChatbotError):
    """A staff request that contradicts what is stored: an id or name already taken, the last
    admin removed."""


class LoginRefused(ChatbotError):
    """A sign-in whose name or password is wrong (the message never says which), or a request
    that needs a signed-in staff member and has no live session."""

    public_message = "Sign in failed: the name or the password is wrong."


class TooManyAttempts(ChatbotError):
    """Too many failed sign-ins for one account or from one address in the window; `retry_after_s`
    says when the next attempt is counted again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SiteRefused(ChatbotError):
    """A widget request the site's key does not allow: an unknown or removed key, an origin that
    is not among the site's, or a widget session that is missing, forged or expired. The message
    says which, and is safe to show (it names no secret)."""

    public_message = "This chat is not available on this site."


class RateLimited(ChatbotError):
    """Too many requests of one visitor, address or site within a rate limit's window; HTTP
    front doors answer 429 with `Retry-After: retry_after_s`."""

    public_message = "You are sending messages too quickly. Please wait a moment and try again."

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Forbidden(ChatbotError):
    """A signed-in staff member asked for what their role may not do, or a state-changing request
    came without its session's CSRF token."""
