"""The chat page end to end, as a customer uses it: a real headless Chromium (Debian's
`chromium`, driven by Playwright with `executable_path`: no browser download) against the real
server over real HTTP, at desktop and phone sizes.

One conversation per size: hello (small talk), a question answered with its source, a
"Did you mean…?" whose option is picked, a thumbs down with a comment, a request for a person, a
staff reply sent through the service that appears without a reload, a reload that shows the whole
conversation again; and markup in messages and entries that stays inert text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from ui.server import create_app


pytestmark = [pytest.mark.integration, pytest.mark.browser]

# The shop's FAQ, one entry's answer carrying markup that must stay text, and two entries close
# enough that a question between them is clarified.
FAQ = """\
id,question,alternates,answer,url
shipping-time,How long does shipping take?,When will my order arrive?|How many days does delivery take?,Orders arrive in 3-5 business days within the continental US.,https://help.example.com/shipping
returns,How do I return an item?,Can I send something back?|What is your return policy?,You can return any item within 30 days for a full refund.,
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,"We accept Visa, Mastercard, American Express and PayPal.",
gift-card-balance,How do I check my gift card balance?,What is left on my gift card?,Enter the card number on the gift card page to see its balance.,
gift-card-expiry,Do gift cards expire?,How long is a gift card valid?,Gift cards never expire.,
markup,What is the <b>markup</b> test?,,"<img src=x onerror=""window.__xss='entry'""> <script>window.__xss='entry-script'</script> Markup stays text.",
"""
XSS_MESSAGE = "<img src=x onerror=\"window.__xss='message'\"><script>window.__xss='script'</script> hi there"
SIZES = {"desktop": (1280, 860), "phone": (390, 844)}
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("chat-page")) as home:
        # Six entries are too few to calibrate a clarify band: the margin is set, as a site may.
        yield services_with_faq(home, FAQ, warm=True, clarify_margin=0.15)


@pytest.fixture(scope="module")
def server_url(services: Services) -> Iterator[str]:
    with running_server(create_app(services)) as url:
        yield url


class ChatPage:
    """The customer's side of the page, in words a customer would use."""

    def __init__(self, page, shots: Path, size: str) -> None:
        self.page, self.shots, self.size = page, shots, size

    def bot_messages(self):
        return self.page.locator("#chat-window .message-row.bot-row, #chat-window .bot-row")

    def say(self, text: str) -> None:
        before = self.bot_messages().count()
        box = self.page.locator("#chat-input textarea")
        box.fill(text)
        box.press("Enter")
        self.wait_for_bot_messages(before + 1)

    def wait_for_bot_messages(self, count: int) -> None:
        self.page.wait_for_function(
            "n => document.querySelectorAll('#chat-window .bot-row').length >= n", arg=count, timeout=WAIT_MS)
        time.sleep(0.3)  # the stream's last update

    def last_bot_text(self) -> str:
        return self.bot_messages().last.inner_text()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.size}-{name}.png"))


@pytest.mark.parametrize("size", list(SIZES))
def test_a_customer_conversation_end_to_end(size: str, browser, server_url: str, services: Services,
                                           tmp_path: Path) -> None:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    chat = ChatPage(page, tmp_path, size)
    page.goto(server_url)
    page.wait_for_selector("#chat-window", timeout=WAIT_MS)
    # An empty chat greets the customer and suggests questions.
    page.get_by_text("Hi! I'm the Brightmart assistant", exact=False).wait_for(timeout=WAIT_MS)
    chat.shot("greeting")
    questions = ["How long does shipping take?", "How do I return an item?", "Which payment methods do you accept?",
                 "How do I check my gift card balance?", "Do gift cards expire?", "What is the <b>markup</b> test?"]
    suggested = [q for q in questions if page.get_by_text(q, exact=True).count()]
    assert len(suggested) == 4, suggested  # the most asked entries; a new shop's first ones

    chat.say("hello")
    assert "couldn't find" not in chat.last_bot_text()

    chat.say("How long does shipping take?")
    answer = chat.last_bot_text()
    assert "3-5 business days" in answer and "Sources" in answer and "How long does shipping take?" in answer

    # A question between two entries: "Did you mean…?" with options as buttons.
    chat.say("gift cards")
    assert "Did you mean" in chat.last_bot_text()
    option = page.get_by_role("button", name="Do gift cards expire?")
    option.wait_for(timeout=WAIT_MS)
    assert page.get_by_role("button", name="None of these").count() == 1
    chat.shot("clarify")
    before = chat.bot_messages().count()
    option.click()
    chat.wait_for_bot_messages(before + 1)
    assert "Gift cards never expire." in chat.last_bot_text()

    # Thumbs down on that answer, with a comment.
    page.locator("#chat-window button[aria-label='Dislike']").last.click()
    comment = page.get_by_placeholder("What was wrong? (optional)")
    comment.wait_for(timeout=WAIT_MS)
    comment.fill("I wanted to know about store credit")
    page.get_by_role("button", name="Send feedback").click()
    token = next(c["value"] for c in context.cookies() if c["name"] == "chatbot_visitor")
    conversation = services.latest_conversation_for_visitor(token)
    assert conversation is not None
    deadline = time.monotonic() + 10
    while True:
        feed = services.messages_for_visitor(conversation, token)
        last_answer = [m for m in feed.messages if m.turn_id is not None][-1]
        stored = services.conversations.feedback.of_turn(last_answer.turn_id)
        if (stored and stored.comment) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stored is not None and stored.rating == "down" and stored.comment == "I wanted to know about store credit"

    # Markup typed by the customer and markup in an entry stay text.
    chat.say(XSS_MESSAGE)
    chat.say("What is the markup test?")
    assert "Markup stays text." in chat.last_bot_text() and "<script>" in chat.last_bot_text()
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chat-window img, #chat-window script").count() == 0  # shown as text, not drawn

    # A person: the conversation waits; a staff reply appears without a reload.
    chat.say("I want to talk to a human")
    chat.shot("handoff")
    assert services.messages_for_visitor(conversation, token).state == "waiting"
    before = chat.bot_messages().count()
    services.staff_reply(conversation, "Alice", "Hi, Alice here. Let me check that for you.")
    chat.wait_for_bot_messages(before + 1)
    assert "Alice here" in chat.last_bot_text() and "Alice" in chat.last_bot_text()
    chat.shot("staff-reply")

    # A reload shows the whole conversation again.
    page.reload()
    page.get_by_text("Alice here", exact=False).wait_for(timeout=WAIT_MS)
    text = page.locator("#chat-window").inner_text()
    for said in ("hello", "How long does shipping take?", "Gift cards never expire.", "hi there",
                 "I want to talk to a human", "Alice here"):
        assert said in text, said
    assert page.evaluate("window.__xss") is None
    assert errors == []
    chat.shot("reloaded")
    context.close()


def test_another_visitor_sees_nothing_of_it(browser, server_url: str) -> None:
    """A new browser (no cookie) gets the greeting, not someone else's conversation."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(server_url)
    page.get_by_text("Hi! I'm the Brightmart assistant", exact=False).wait_for(timeout=WAIT_MS)
    assert page.locator("#chat-window .bot-row").count() == 0
    context.close()


def test_the_page_speaks_chinese_to_a_chinese_browser(browser, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(server_url)
    page.get_by_text("您好", exact=False).first.wait_for(timeout=WAIT_MS)
    assert page.get_by_role("button", name="发送").count() == 1
    context.close()
