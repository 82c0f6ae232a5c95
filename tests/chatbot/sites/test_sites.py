"""Sites and their rules: the store on SQLite and PostgreSQL, origins, widget sessions, identity."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from chatbot.conversations.database import create_db_engine, upgrade_database
from chatbot.errors import InvalidInput, SiteRefused
from chatbot.messages import Reply
from chatbot.conversations.store import ConversationStore
from chatbot.sites.rules import (identity_is_valid, identity_token, normalise_origin, origin_of, sign_session,
                                 verify_session)
from chatbot.sites.store import SiteStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    url = (f"sqlite:///{tmp_path / 'chatbot.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db_url"))
    upgrade_database(url)
    engine = create_db_engine(url)
    yield engine
    engine.dispose()


def test_sites_are_added_listed_and_removed_with_their_origins_normalised(engine) -> None:
    store = SiteStore(engine)
    site = store.add(["HTTPS://Shop.Example:443/cart?x=1", "https://shop.example", "http://localhost:8080/"], "Shop")
    assert site.origins == ("https://shop.example", "http://localhost:8080")
    assert site.key.startswith("site_") and len(site.secret) == 64
    assert site.secret not in repr(site)  # a logged site does not show its secret
    assert store.get(site.key) == site and [s.key for s in store.list()] == [site.key]
    assert store.remove(site.key) and store.get(site.key) is None and not store.remove(site.key)


@pytest.mark.parametrize("origins", [[], ["ftp://shop.example"], ["shop.example"], ["https://user:pw@shop.example"]])
def test_a_site_needs_http_origins(engine, origins: list[str]) -> None:
    with pytest.raises(InvalidInput):
        SiteStore(engine).add(origins)


def test_a_widget_conversation_is_tagged_once_with_channel_and_site(engine) -> None:
    conversations, sites = ConversationStore(engine), SiteStore(engine)
    cid = conversations.start_conversation("web")
    conversations.log_turn(cid, "hi", Reply(cid, "Hello!", False, "en", [], 0.0, "smalltalk", 1))
    first, second = sites.add(["https://a.example"]), sites.add(["https://b.example"])
    sites.tag_conversation(cid, first.key)
    sites.tag_conversation(cid, second.key)  # the first site stays
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT channel, site_key FROM conversations").fetchall() == \
            [("widget", first.key)]


def test_origins_compare_in_one_form() -> None:
    assert normalise_origin("http://LOCALHOST:80/") == "http://localhost"
    assert normalise_origin("http://[::1]:8000/x") == "http://[::1]:8000"
    assert origin_of("null") is None and origin_of(None) is None and origin_of("file:///x.html") is None


def test_a_session_names_its_origin_until_it_expires_and_cannot_be_forged() -> None:
    session = sign_session("site_a", "s" * 64, "https://shop.example", now=1000, ttl_s=60)
    assert verify_session(session, "site_a", "s" * 64, now=1059) == "https://shop.example"
    with pytest.raises(SiteRefused, match="expired"):
        verify_session(session, "site_a", "s" * 64, now=1061)
    for forged in (session.replace("aHR0cHM6Ly9zaG9wLmV4YW1wbGU", "aHR0cHM6Ly9ldmlsLmV4YW1wbGU"),  # another origin
                   session[:-1] + ("0" if session[-1] != "0" else "1"), "", None, "a.b", "x.y.z"):
        with pytest.raises(SiteRefused):
            verify_session(forged, "site_a", "s" * 64, now=1000)
    with pytest.raises(SiteRefused):  # another site's session, or the same after a new secret
        verify_session(session, "site_b", "s" * 64, now=1000)
    with pytest.raises(SiteRefused):
        verify_session(session, "site_a", "t" * 64, now=1000)


def test_identity_is_the_sites_hmac_of_the_user_id() -> None:
    secret = "k" * 64
    signature = hmac.new(secret.encode(), b"customer-42", hashlib.sha256).hexdigest()  # what a site's server does
    assert identity_is_valid(secret, "customer-42", signature)
    assert identity_is_valid(secret, "customer-42", signature.upper())
    assert not identity_is_valid(secret, "customer-43", signature)
    assert not identity_is_valid("j" * 64, "customer-42", signature)
    assert not identity_is_valid(secret, "customer-42", None) and not identity_is_valid(secret, "", signature)
    token = identity_token(secret, "customer-42")
    assert len(token) == 43 and token == identity_token(secret, "customer-42") != identity_token(secret, "customer-43")
