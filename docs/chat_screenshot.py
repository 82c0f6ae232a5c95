"""Make docs/chat.png: the demo chat page after one exchange (for the README).

Needs a Chromium binary and the `playwright` package (not a project dependency):

    apt-get install -y chromium && pip install playwright      # no `playwright install` needed
    python docs/chat_screenshot.py [--question TEXT] [--out docs/chat.png]

It serves the demo knowledge base with the extractive generator from a temporary CHATBOT_HOME on
a free localhost port, asks one question in the real page, and captures the window.
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


def _serve(home: Path) -> tuple[uvicorn.Server, str]:
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
    return server, f"http://127.0.0.1:{port}/"


def capture(url: str, question: str, out: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url, wait_until="domcontentloaded")  # fonts from the web never load offline
        box = page.get_by_placeholder("Type your question…")
        box.wait_for(timeout=60_000)
        box.fill(question)
        page.get_by_role("button", name="Send", exact=True).click()
        page.get_by_text("Sources:").first.wait_for(timeout=30_000)
        page.evaluate("document.fonts.ready.then(() => true)")
        page.wait_for_timeout(1500)  # let the bubble finish its layout
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default="How long will my package take to arrive?")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "chat.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, url = _serve(Path(tmp) / "home")
        try:
            capture(url, args.question, args.out, args.chromium)
        finally:
            server.should_exit = True
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
