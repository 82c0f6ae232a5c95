"""Make the README's picture of the console's unanswered queue: docs/console_unanswered.png
(desktop, an editor's view) and docs/console_unanswered_phone.png (a phone).

Needs Debian's chromium and the `playwright` package (a test dependency; no `playwright install`):

    python docs/console_queue_screenshot.py [--out-dir docs] [--models CHATBOT_HOME/models]

It serves the demo knowledge base (English and Chinese, so the multilingual model: `--models`
names a folder that holds it converted already, to skip the conversion) from a temporary
CHATBOT_HOME, asks questions the demo cannot answer as customers would, and signs in as an editor.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import httpx

from chatbot.services import DEMO_KB, build_services
from chatbot.settings import Settings
from ui.server import create_app

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Are dogs allowed in your store?", "Can I bring my dog inside the store?", "Is my dog welcome in the shop?",
    "Do you allow pets in the store?", "Can dogs come into your store?",
    "Is there a student discount?", "Do students get a discount?", "Can I get a discount as a student?",
    "你们卖礼品卡吗？", "可以买礼品卡吗？", "有没有礼品卡？",
    "Can I pick up my order at the warehouse?", "What is the capital of Peru?",
]
PASSWORD = "a long passphrase"


def capture(out_dir: Path, models: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from live_server import running_server

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        home.mkdir()
        if models is not None:
            (home / "models").symlink_to(models.resolve(), target_is_directory=True)
        services = build_services(Settings(home=home, generator="extractive"))
        services.import_files([DEMO_KB])
        services.add_staff_user("eddie", "editor", PASSWORD)
        with running_server(create_app(services)) as url:
            for question in QUESTIONS:
                httpx.post(f"{url}/api/ask", json={"message": question}, timeout=120)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                for name, viewport in (("console_unanswered.png", {"width": 1280, "height": 800}),
                                       ("console_unanswered_phone.png", {"width": 390, "height": 844})):
                    page = browser.new_page(viewport=viewport)
                    page.goto(f"{url}/admin/login?next=/admin/unanswered")
                    page.fill("#name", "eddie")
                    page.fill("#password", PASSWORD)
                    page.click("button[type=submit]")
                    page.wait_for_url("**/admin/unanswered")
                    page.locator("details summary").first.click()  # the first group's choices, open
                    page.screenshot(path=str(out_dir / name), full_page=viewport["width"] > 600)
                    page.close()
                browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--models", type=Path, default=None)
    args = parser.parse_args()
    capture(args.out_dir, args.models)


if __name__ == "__main__":
    main()
