"""Make the README's pictures of the chat page on the demo knowledge base: docs/chat.png (desktop,
an answer with its source), docs/chat_phone_zh.png (a phone in Chinese), docs/chat_clarify.png
(a "Did you mean…?") and docs/chat_handoff.png (a hand-off and a staff reply that arrived
without a reload).

Needs Debian's chromium and the `playwright` package (a test dependency; no `playwright install`):

    python docs/chat_screenshot.py [--out-dir docs]

It serves the demo knowledge base with the extractive generator from a temporary CHATBOT_HOME on
a free localhost port and uses the real page as a customer would.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from chatbot.services import DEMO_KB, build_services
from chatbot.settings import Settings
from ui.server import create_app

REPO = Path(__file__).resolve().parent.parent


def _serve(home: Path) -> tuple[uvicorn.Server, str, object]:
    services = build_services(Settings(home=home, generator="extractive"))
    services.import_files([DEMO_KB])
    services.warm_up()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/", services


def _ask(page, text: str) -> None:
    before = page.locator("#chat-window .bot-row").count()
    box = page.locator("#chat-input textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#chat-window .bot-row').length > n",
                           arg=before, timeout=30_000)
    page.wait_for_timeout(800)


def capture(url: str, out_dir: Path, chromium: str, services) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        shots = [("chat.png", (1200, 860), "en-US", ["hi", "How long will my package take to arrive?"]),
                 ("chat_phone_zh.png", (390, 844), "zh-CN", ["你好", "我的订单什么时候到？"]),
                 ("chat_clarify.png", (1200, 860), "en-US", ["I have a problem with my order"]),
                 ("chat_handoff.png", (390, 844), "en-US", ["Can I change my delivery address?",
                                                            "I want to talk to a human"])]
        for name, (width, height), locale, turns in shots:
            context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
            page = context.new_page()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#chat-window", timeout=60_000)
            page.wait_for_timeout(1500)
            for text in turns:
                _ask(page, text)
            if name == "chat_handoff.png":
                token = next(c["value"] for c in context.cookies() if c["name"] == "chatbot_visitor")
                conversation = services.latest_conversation_for_visitor(token)
                services.staff_reply(conversation, "Maria", "Hi, I'm Maria from support. Which order is it?")
                page.get_by_text("Maria from support", exact=False).wait_for(timeout=30_000)
                page.wait_for_timeout(800)
            page.screenshot(path=str(out_dir / name))
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, url, services = _serve(Path(tmp) / "home")
        try:
            capture(url, args.out_dir, args.chromium, services)
        finally:
            server.should_exit = True
    print(f"wrote the chat pictures to {args.out_dir}")


if __name__ == "__main__":
    main()
