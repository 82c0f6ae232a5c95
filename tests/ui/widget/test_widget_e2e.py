"""The widget end to end, as a shop's customer meets it: a real headless Chromium (Debian's
`chromium`, driven by Playwright with `executable_path`: no browser download) on a third-party
shop page served from `http://localhost:<port>`, which embeds the one-line script of the bot
server at `http://127.0.0.1:<port>`: another site, as in reality (no SameSite cookie crosses).

The customer opens the bubble, asks a question and sees the answer with its source, asks for a
person; a staff reply sent through the service while the chat is closed lights the unread badge;
a reload of the shop page shows the history; a forged identity is ignored. The same page from an
origin the site key does not name gets no chat (the frame is refused, the API answers 403), and
the shop page's own styles are the same with the widget as without.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from chatbot.sites.store import Site
from ui.server import create_app


pytestmark = [pytest.mark.integration, pytest.mark.browser]

WAIT_MS = 30_000
DOCS_SHOT = Path(__file__).resolve().parents[3] / "docs" / "widget.png"
SHOTS = Path("/tmp/shots-widget")

SHOP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Brightmart — Shoes</title>
<style>
  body {{ font-family: Georgia, serif; margin: 0; background: #fbf7f0; color: #3b2f2f; }}
  header {{ background: #3b2f2f; color: #fbf7f0; padding: 18px 32px; font-size: 22px; letter-spacing: 1px; }}
  main {{ padding: 24px 32px; display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 20px; }}
  .card {{ background: #fff; border-radius: 10px; padding: 16px; box-shadow: 0 2px 6px rgba(0,0,0,.08); }}
  .card .pic {{ height: 120px; border-radius: 8px; background: linear-gradient(135deg, #e8c39e, #b5835a); }}
  h2 {{ font-size: 18px; margin: 10px 0 4px; }}
  button {{ background: #b5835a; color: white; border: 0; padding: 8px 14px; border-radius: 6px; font: inherit; }}
  div {{ line-height: 1.6; }}
</style></head><body>
<header>BRIGHTMART · handmade shoes</header>
<main>
  <div class="card"><div class="pic"></div><h2>Oxford brogue</h2><p>$189</p><button id="buy">Add to cart</button></div>
  <div class="card"><div class="pic"></div><h2>Chelsea boot</h2><p>$215</p><button>Add to cart</button></div>
  <div class="card"><div class="pic"></div><h2>Loafer</h2><p>$159</p><button>Add to cart</button></div>
</main>
{embed}
</body></html>"""

# What the shop page's own styles are checked by, with and without the widget.
STYLE_PROBE = """() => [document.body, document.querySelector('header'), document.querySelector('#buy'),
  document.querySelector('.card'), document.querySelector('h2')].map(e => {
    const s = getComputedStyle(e);
    return [s.fontFamily, s.fontSize, s.color, s.backgroundColor, s.margin, s.padding, s.lineHeight,
            s.borderRadius, s.position, s.display].join('|');
  })"""


def shop_app(bot_url: str, embed: dict[str, str]) -> FastAPI:
    """The shop's own web server: `/` embeds the widget with its one line (the site key is set in
    `embed["key"]` once the shop's origin is known), `/plain` does not embed it."""
    app = FastAPI()

    @app.get("/")
    def with_widget() -> HTMLResponse:
        line = (f'<script src="{bot_url}/widget.js" data-site-key="{embed["key"]}" '
                f'data-title="Brightmart help" async></script>')
        return HTMLResponse(SHOP_PAGE.format(embed=line))

    @app.get("/plain")
    def without_widget() -> HTMLResponse:
        return HTMLResponse(SHOP_PAGE.format(embed=""))

    return app


def as_localhost(url: str) -> str:
    """The same server by the name `localhost`: another site than 127.0.0.1 for the browser."""
    return url.replace("127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("widget-e2e")) as home:
        yield services_with_faq(home, SHOP_FAQ, warm=True)


@pytest.fixture(scope="module")
def servers(services: Services) -> Iterator[tuple[str, str, str, Site]]:
    """The bot's URL, the shop's (the site's one origin) and another shop's (not allowed), the site."""
    embed: dict[str, str] = {}
    with (running_server(create_app(services)) as bot_url, running_server(shop_app(bot_url, embed)) as shop,
          running_server(shop_app(bot_url, embed)) as other):
        site = services.add_site([as_localhost(shop)], "Brightmart")
        embed["key"] = site.key
        yield bot_url, as_localhost(shop), as_localhost(other), site


def open_shop(browser, url: str, size: tuple[int, int] = (1280, 800)):
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(url)
    page.wait_for_function("() => window.SupportChat && window.SupportChat.version", timeout=WAIT_MS)
    return page


def chat_of(page):
    """The framed chat (Playwright's CSS pierces the widget's open shadow root)."""
    return page.frame_locator("[data-support-chat] iframe")


def bot_rows(chat):
    return chat.locator(".row.bot:not(.typing)")


def say(chat, text: str) -> None:
    before = bot_rows(chat).count()
    chat.locator("#input").fill(text)
    chat.locator("#input").press("Enter")
    bot_rows(chat).nth(before).wait_for(timeout=WAIT_MS)


def test_a_customer_asks_gets_a_person_and_finds_it_all_after_a_reload(browser, servers, services: Services) -> None:
    started = time.monotonic()
    bot, shop, _, site = servers
    page = open_shop(browser, shop + "/")
    bubble = page.locator("[data-support-chat] .bubble")
    bubble.click()
    chat = chat_of(page)
    chat.locator(".greeting").wait_for(timeout=WAIT_MS)
    assert chat.locator(".chip").count() >= 1  # the most asked questions, suggested
    assert chat.locator("#title").inner_text() == "Brightmart help"  # data-title

    say(chat, "How long does shipping take?")
    answer = bot_rows(chat).last
    assert "3-5 business days" in answer.inner_text()
    assert "How long does shipping take?" in answer.locator(".sources").inner_text()
    DOCS_SHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS_SHOT))
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "desktop-answer.png"))

    say(chat, "I want to talk to a human")
    [waiting] = [w for w in services.waiting_conversations() if w.channel == "widget"]
    bubble.click()  # closed: a staff reply now lights the badge
    assert not page.locator("[data-support-chat] .panel").is_visible()
    services.staff_reply(waiting.id, "Alice", "Hi, Alice here. Your parcel left our warehouse today.")
    page.wait_for_function("() => window.SupportChat.unread() === 1", timeout=WAIT_MS)
    badge = page.locator("[data-support-chat] .badge")
    assert badge.is_visible() and badge.inner_text() == "1"
    page.screenshot(path=str(SHOTS / "desktop-unread-badge.png"))
    bubble.click()
    chat.locator(".row.staff").wait_for(timeout=WAIT_MS)
    assert "Alice" in chat.locator(".row.staff").inner_text()
    assert not badge.is_visible()

    page.reload()
    page.wait_for_function("() => window.SupportChat && window.SupportChat.version", timeout=WAIT_MS)
    page.locator("[data-support-chat] .bubble").click()
    chat = chat_of(page)
    chat.locator(".row.staff").wait_for(timeout=WAIT_MS)
    history = chat.locator("#messages").inner_text()
    for said in ("How long does shipping take?", "3-5 business days", "I want to talk to a human", "parcel left"):
        assert said in history
    page.screenshot(path=str(SHOTS / "desktop-after-reload.png"))

    # A forged identity is ignored: still the same anonymous visitor, with the same history.
    page.evaluate("() => SupportChat.identify({user_id: 'alice@example.com', signature: '0'.repeat(64)})")
    chat.locator(".row.staff").wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1000)
    assert "parcel left" in chat.locator("#messages").inner_text()
    page.context.close()
    print(f"\nwidget end-to-end: {time.monotonic() - started:.1f} s")


def test_another_origin_gets_no_chat_and_the_api_answers_403(browser, servers) -> None:
    bot, shop, other, site = servers
    loads: list[int] = []
    page = browser.new_context().new_page()
    page.on("response", lambda response: loads.append(response.status) if "/widget/chat" in response.url else None)
    page.goto(other + "/")
    page.wait_for_function("() => window.SupportChat && window.SupportChat.version", timeout=WAIT_MS)
    page.locator("[data-support-chat] .bubble").click()
    page.wait_for_timeout(1500)
    assert loads == [403]
    for frame in page.frames[1:]:  # the refused frame shows the browser's error page, no chat
        assert frame.evaluate("() => document.getElementById('composer')") is None
    page.screenshot(path=str(SHOTS / "disallowed-origin.png"))
    page.context.close()

    with httpx.Client(base_url=bot, timeout=30) as http:
        # A session the shop's page was given, replayed by a page of the other origin.
        framed = http.get("/widget/chat", params={"site_key": site.key}, headers={"Referer": shop + "/"})
        session = framed.text.split('"session": "')[1].split('"')[0]
        refused = http.post("/api/ask", json={"message": "hi"}, headers={
            "X-Site-Key": site.key, "X-Widget-Session": session, "X-Visitor-Token": "v" * 43, "Origin": other})
        assert refused.status_code == 403 and "does not allow" in refused.json()["detail"]


def test_the_shop_page_keeps_its_styles_and_the_widget_its_own(browser, servers) -> None:
    bot, shop, _, site = servers
    plain = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    plain.goto(shop + "/plain")
    before = plain.evaluate(STYLE_PROBE)
    plain.context.close()
    page = open_shop(browser, shop + "/")
    page.locator("[data-support-chat] .bubble").click()
    chat_of(page).locator("#composer").wait_for(timeout=WAIT_MS)
    assert page.evaluate(STYLE_PROBE) == before
    # The shop's `button { background: … }` does not reach the bubble in its shadow root.
    colour = page.evaluate("() => getComputedStyle(document.querySelector('[data-support-chat]')"
                           ".shadowRoot.querySelector('.bubble')).backgroundColor")
    assert colour == "rgb(37, 99, 235)"
    page.context.close()


def test_on_a_phone_the_chat_fills_the_screen(browser, servers) -> None:
    bot, shop, _, site = servers
    page = open_shop(browser, shop + "/", size=(390, 844))
    page.locator("[data-support-chat] .bubble").click()
    chat = chat_of(page)
    chat.locator(".greeting").wait_for(timeout=WAIT_MS)
    box = page.locator("[data-support-chat] iframe").bounding_box()
    assert box is not None and box["width"] == 390 and box["height"] == 844
    say(chat, "Which payment methods do you accept?")
    assert "PayPal" in bot_rows(chat).last.inner_text()
    bot_rows(chat).last.locator(".thumb.down").click()
    chat.locator(".comment input").fill("I wanted to know about Apple Pay")
    chat.locator(".comment button").click()
    chat.locator(".thumbs .thanks").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(SHOTS / "phone-answer.png"))
    chat.locator("#close").click()  # the frame's close button: widget.js closes the panel
    page.locator("[data-support-chat] .bubble").wait_for(state="visible", timeout=WAIT_MS)
    page.context.close()


def test_a_message_over_the_limit_gets_a_friendly_word_and_is_not_sent(browser, servers, services: Services) -> None:
    bot, shop, _, site = servers
    page = open_shop(browser, shop + "/")
    page.locator("[data-support-chat] .bubble").click()
    chat = chat_of(page)
    chat.locator(".greeting").wait_for(timeout=WAIT_MS)
    before = services.conversations.count_turns()
    limit = services.settings.max_message_chars
    chat.locator("#input").fill("x" * (limit + 1))
    chat.locator("#input").press("Enter")
    notice = chat.locator("#notice")
    notice.wait_for(state="visible", timeout=WAIT_MS)
    assert notice.inner_text() == f"That message is too long: please keep it under {limit} characters."
    assert services.conversations.count_turns() == before  # nothing was sent
    say(chat, "How long does shipping take?")  # a message within the limit still goes through
    assert "3-5 business days" in bot_rows(chat).last.inner_text()
    page.context.close()
