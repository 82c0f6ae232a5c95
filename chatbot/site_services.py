"""The services of sites that embed the widget (DESIGN.md "Widget security model"): adding and
removing sites, and the checks of every widget request. Mixed into `chatbot.services.Services`
like `ConversationServices`, so the CLI and the web app call the same ones.

    >>> site = services.add_site(["https://shop.example"], name="Shop")   # prints its secret once
    >>> session = services.open_widget(site.key, referer_origin)          # the framed page's load
    >>> access = services.widget_access(key, session, request_origin, own_origin)   # each API call
    >>> services.widget_visitor(access.site, user_id, signature)          # a derived token, or None
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatbot.errors import SiteRefused
from chatbot.sites.rules import identity_is_valid, identity_token, sign_session, verify_session
from chatbot.sites.store import Site, SiteStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

UNKNOWN_SITE = "This site key is unknown or was removed: the chat is not available."
OTHER_ORIGIN = "This site key does not allow the chat on {origin}."


@dataclass(frozen=True)
class WidgetAccess:
    """A widget request that passed the checks: its site and the origin of the page embedding it."""

    site: Site
    origin: str


class SiteServices:
    """Mixed into `Services`, whose `database` these use."""

    database: "Engine"

    @property
    def sites(self) -> SiteStore:
        """The sites' store (a thin object over the database engine)."""
        return SiteStore(self.database)

    def add_site(self, origins: list[str], name: str = "") -> Site:
        """A new site allowed on `origins` (`InvalidInput` for one that is not an http(s) origin)."""
        return self.sites.add(origins, name)

    def list_sites(self) -> list[Site]:
        return self.sites.list()

    def remove_site(self, key: str) -> bool:
        """Remove a site: its key stops working at once (every widget request looks it up)."""
        return self.sites.remove(key)

    def _site(self, key: str | None) -> Site:
        site = self.sites.get(key) if key else None
        if site is None:
            raise SiteRefused(UNKNOWN_SITE)
        return site

    def open_widget(self, key: str | None, embedding_origin: str | None) -> tuple[Site, str]:
        """The site and a fresh widget session for the framed page loaded by a page of
        `embedding_origin` (from the load's Referer); `SiteRefused` when the key is unknown or
        removed, or the origin (or its absence) is not one of the site's."""
        site = self._site(key)
        if not site.allows(embedding_origin):
            raise SiteRefused(OTHER_ORIGIN.format(origin=embedding_origin or "a page that does not say its origin"))
        return site, sign_session(site.key, site.secret, embedding_origin, time.time())  # type: ignore[arg-type]

    def widget_access(self, key: str | None, session: str | None, request_origin: str | None,
                      own_origin: str) -> WidgetAccess:
        """Check one API call of the widget: the key names a site, the session is the site's and
        unexpired, its origin is still allowed, and the request's own Origin (when the browser
        sends one) is the framed page's (`own_origin`, the bot's) or one of the site's.
        `SiteRefused` otherwise."""
        site = self._site(key)
        origin = verify_session(session, site.key, site.secret, time.time())
        if not site.allows(origin):  # the origin was removed from the site since the page loaded
            raise SiteRefused(OTHER_ORIGIN.format(origin=origin))
        if request_origin is not None and request_origin != own_origin and not site.allows(request_origin):
            raise SiteRefused(OTHER_ORIGIN.format(origin=request_origin))
        return WidgetAccess(site, origin)

    def widget_visitor(self, site: Site, user_id: object, signature: object) -> str | None:
        """The visitor token of a user the site signed (`chatbot.sites.rules.identity_token`), or
        None when the identity is absent, unsigned or wrongly signed: it is then ignored, and the
        visitor stays anonymous."""
        if not identity_is_valid(site.secret, user_id, signature):
            return None
        return identity_token(site.secret, user_id)  # type: ignore[arg-type]  # validated as a str

    def tag_widget_conversation(self, conversation_id: str, site_key: str) -> None:
        """Log a conversation the widget started under channel "widget" and its site's key."""
        self.sites.tag_conversation(conversation_id, site_key)
