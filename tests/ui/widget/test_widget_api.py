"""The widget's server side over real HTTP: the framed page's security headers and size, origin
checks of frame loads and API calls, a removed key, signed identity and rate limits."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.errors import RateLimited
from chatbot.services import Services
from ui.server import create_app
from ui.widget.rate_limits import WidgetLimits

pytestmark = pytest.mark.integration

SHOP, OTHER = "https://shop.example", "https://evil.example"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("widget-api")) as home:
        # Low limits, so that they trip within a test and recover within seconds.
        yield services_with_faq(home, SHOP_FAQ, warm=True, rate_limit_visitor="3 per 2 seconds",
                                rate_limit_site="5 per 2 seconds")


@pytest.fixture(scope="module")
def http(services: Services) -> Iterator[httpx.Client]:
    with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def frame(http: httpx.Client, key: str, referer: str | None = SHOP + "/cart") -> httpx.Response:
    return http.get("/widget/chat", params={"site_key": key}, headers={"Referer": referer} if referer else {})


def config_of(page: httpx.Response) -> dict:
    return json.loads(re.search(r'id="widget-config">(.*?)</script>', page.text, re.S).group(1))


def widget_headers(key: str, session: str, visitor: str = "v" * 43, **extra: str) -> dict:
    return {"X-Site-Key": key, "X-Widget-Session": session, "X-Visitor-Token": visitor, **extra}


def test_the_framed_page_may_be_framed_by_exactly_the_sites_origins(services: Services, http: httpx.Client) -> None:
    site = services.add_site([SHOP, "http://localhost:3000"])
    page = frame(http, site.key)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors https://shop.example http://localhost:3000" in policy
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    config = config_of(page)
    assert config["origin"] == SHOP and config["site_key"] == site.key and config["suggestions"]
    for refused in (frame(http, site.key, OTHER + "/"), frame(http, site.key, None), frame(http, "site_nope")):
        assert refused.status_code == 403 and "frame-ancestors 'none'" in refused.headers["content-security-policy"]


def test_the_widget_is_light(http: httpx.Client, services: Services) -> None:
    site = services.add_site([SHOP])
    embed = http.get("/widget.js")
    assert embed.status_code == 200 and embed.headers["content-type"].startswith("text/javascript")
    assert len(embed.content) <= 20 * 1024
    framed = [frame(http, site.key).content, http.get("/widget/frame.js").content, http.get("/widget/frame.css").content]
    total = sum(len(part) for part in framed)
    assert total <= 150 * 1024  # uncompressed: what a server without gzip sends
    print(f"\nwidget.js {len(embed.content)} B ({len(gzip.compress(embed.content))} B gzipped); framed page "
          f"{total} B ({sum(len(gzip.compress(part)) for part in framed)} B gzipped)")
    assert b"http" not in http.get("/widget/frame.css").content.replace(b"http://www.w3.org/2000/svg", b"")


def test_api_calls_need_the_sites_session_and_origin(services: Services, http: httpx.Client) -> None:
    site = services.add_site([SHOP])
    session = config_of(frame(http, site.key))["session"]
    ok = http.post("/api/ask", json={"message": "How long does shipping take?"},
                   headers=widget_headers(site.key, session, Origin=str(http.base_url).rstrip("/")))
    assert ok.status_code == 200 and ok.json()["action"] == "answer"
    assert [w for w in services.sites.list() if w.key == site.key]
    with services.database.connect() as connection:
        channel = connection.exec_driver_sql("SELECT channel, site_key FROM conversations WHERE id = ?",
                                             (ok.json()["conversation_id"],)).one()
    assert tuple(channel) == ("widget", site.key)
    refusals = [
        widget_headers(site.key, session, Origin=OTHER),            # a page of another origin
        widget_headers(site.key, "forged.1.abc"),                    # a forged session
        widget_headers(site.key, ""),                                # none
        widget_headers("site_unknown", session),                     # another key
    ]
    for headers in refusals:
        refused = http.post("/api/ask", json={"message": "hi"}, headers=headers)
        assert refused.status_code == 403, headers
    other_site = services.add_site([SHOP])
    assert http.post("/api/ask", json={"message": "hi"}, headers=widget_headers(other_site.key, session)).status_code == 403
    assert http.get("/api/widget/conversation").status_code == 403  # only for the widget

    services.remove_site(site.key)  # at once: the next call is refused
    gone = http.post("/api/ask", json={"message": "hi"}, headers=widget_headers(site.key, session, visitor="w" * 43))
    assert gone.status_code == 403 and "removed" in gone.json()["detail"]
    assert frame(http, site.key).status_code == 403


def test_a_signed_identity_follows_the_customer_across_devices_and_a_forged_one_is_ignored(
        services: Services, http: httpx.Client) -> None:
    site = services.add_site([SHOP])
    session = config_of(frame(http, site.key))["session"]
    signature = hmac.new(site.secret.encode(), b"customer-42", hashlib.sha256).hexdigest()
    laptop = widget_headers(site.key, session, visitor="l" * 43, **{"X-Widget-User": "customer-42",
                                                                     "X-Widget-Signature": signature})
    started = http.post("/api/ask", json={"message": "Do you take credit cards?"}, headers=laptop).json()
    phone = {**laptop, "X-Visitor-Token": "p" * 43}  # another device: another anonymous token
    found = http.get("/api/widget/conversation", headers=phone).json()
    assert found == {"conversation_id": started["conversation_id"], "identified": True}
    assert http.get(f"/api/conversations/{started['conversation_id']}/messages", headers=phone).status_code == 200

    forged = {**phone, "X-Widget-Signature": "0" * 64}
    assert http.get("/api/widget/conversation", headers=forged).json() == {"conversation_id": None, "identified": False}
    assert http.get(f"/api/conversations/{started['conversation_id']}/messages", headers=forged).status_code == 404


def test_rate_limits_trip_with_retry_after_and_recover(services: Services, http: httpx.Client) -> None:
    time.sleep(2.1)  # the windows of earlier tests have passed
    site = services.add_site([SHOP])
    session = config_of(frame(http, site.key))["session"]
    one = widget_headers(site.key, session, visitor="r" * 43)
    codes = [http.post("/api/ask", json={"message": "hi"}, headers=one).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # 3 per visitor in 2 s
    limited = http.post("/api/ask", json={"message": "hi"}, headers=one)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 2
    assert "wait" in limited.json()["detail"]
    assert http.get("/api/widget/conversation", headers=one).status_code == 200  # reading is not limited
    another = widget_headers(site.key, session, visitor="s" * 43)
    codes = [http.post("/api/ask", json={"message": "hi"}, headers=another).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # the site's 5 in 2 s are spent
    time.sleep(int(limited.headers["Retry-After"]) + 0.2)
    assert http.post("/api/ask", json={"message": "hi"}, headers=one).status_code == 200  # recovered
    assert http.post("/api/ask", json={"message": "hi"}).status_code == 200  # not the widget: not counted


def test_each_limit_counts_its_own_key() -> None:
    limits = WidgetLimits("2 per 10 seconds", "3 per 10 seconds", "100 per 10 seconds")
    limits.hit(visitor="a", address="1.2.3.4", site="s")
    limits.hit(visitor="a", address="1.2.3.4", site="s")
    with pytest.raises(RateLimited, match="visitor"):
        limits.hit(visitor="a", address="1.2.3.4", site="s")
    limits.hit(visitor="b", address="1.2.3.4", site="s")  # the refused hit counted nowhere: 3rd of the address
    with pytest.raises(RateLimited, match="address") as refused:
        limits.hit(visitor="c", address="1.2.3.4", site="s")
    assert 1 <= refused.value.retry_after_s <= 10
    limits.hit(visitor="c", address="5.6.7.8", site="s")
