"""The knowledge-base editor end to end in a real headless Chromium (Debian's `chromium` driven by
Playwright) against the real server: an editor signs in, imports one file of every format at once
(written here by the libraries the importers read them with; the PDF by hand) plus a file that is
not what its name says, watches the progress page finish with its report, edits an entry's
answer in the form, and the next customer question gets the new answer. The pages run no script.

Screenshots go to `$CHATBOT_TEST_SHOTS` when set (the README's come from there), else tmp.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faq_services import SHOP_FAQ, services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from ui.server import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "knowledge_base" / "importers"))
from document_files import pdf_bytes, write_docx, write_xlsx  # noqa: E402  (the importer tests' builders)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "a long passphrase"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
NEW_ANSWER = "Gift cards are sold out until May, sorry."


def write_fixtures(folder: Path) -> dict[str, Path]:
    """One small file of each supported format, each on its own topic, and one broken file."""
    files = {
        "faq.csv": "id,question,answer,category,tags\nwarranty,Is there a warranty?,Two years on every item.,"
                   "products,\"care,repairs\"\n",
        "faq.tsv": "id\tquestion\tanswer\nstudent\tDo students get a discount?\tYes, 10 % with a student card.\n",
        "faq.json": json.dumps([{"id": "pickup", "question": "Can I pick up my order in a store?",
                                 "answer": "Yes, in any of our 12 stores.", "alternates": ["Click and collect?"]}]),
        "faq.jsonl": json.dumps({"id": "newsletter", "question": "How do I unsubscribe from the newsletter?",
                                 "answer": "Use the link at the bottom of any newsletter."}) + "\n{not json\n",
        "care.md": "# Washing wool sweaters\n\nHand wash cold and dry them flat.\n",
        "shoes.txt": "Leather shoes last longer with a coat of polish every month.\n",
        "stores.html": "<html><head><title>Stores</title></head><body><h2>Parking at our stores</h2>"
                       "<p>Every store has free parking for two hours.</p></body></html>",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / name
        paths[name].write_text(text, encoding="utf-8")
    paths["faq.xlsx"] = write_xlsx(folder / "faq.xlsx", [
        ["id", "question", "answer", "category"],
        ["gift-cards", "Do you sell gift cards?", "Yes, from $10 to $500.", "payments"],
        ["no-answer", "What is this row?", None, None]])
    paths["manual.pdf"] = folder / "manual.pdf"
    paths["manual.pdf"].write_bytes(pdf_bytes([["Battery care", "", "Charge the battery fully before first use."]]))
    paths["sizes.docx"] = write_docx(folder / "sizes.docx", [("h1", "Size guide"),
                                                            ("p", "Our sizes run small: order one size up.")])
    paths["broken.docx"] = folder / "broken.docx"
    paths["broken.docx"].write_bytes(pdf_bytes([["A PDF that says it is a Word file"]]))
    return paths


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with module_home(tmp_path_factory.mktemp("editor-e2e")) as home:
        services: Services = services_with_faq(home, SHOP_FAQ, warm=True)
        services.add_staff_user("maria", "editor", PASSWORD)
        with running_server(create_app(services)) as url:
            yield url


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/admin/entries")
    page.fill("#name", "maria")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/admin/entries")


def test_an_editor_imports_every_format_edits_an_answer_and_the_bot_uses_it(browser, server_url: str,
                                                                           tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    outside, errors, loads = [], [], []
    page.on("request", lambda request: None if request.url.startswith(server_url) else outside.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("load", lambda _: loads.append(page.url))
    sign_in(page, server_url)

    page.click("text=Import files")
    page.wait_for_url(f"{server_url}/admin/imports")
    fixtures = write_fixtures(tmp_path)
    page.set_input_files("#files", [str(p) for p in fixtures.values()])
    page.click("button:has-text('Import')")
    page.wait_for_url(f"{server_url}/admin/imports/*")
    first_status = page.inner_text("#status")
    page.locator("#status").filter(has_text="Done.").wait_for(timeout=180_000)  # the page reloads itself
    job_loads = [u for u in loads if "/admin/imports/" in u]
    assert first_status.startswith("Done.") or len(job_loads) > 1, (first_status, job_loads)
    assert page.get_attribute("#progress", "value") == page.get_attribute("#progress", "max") + ".000"
    files = {row.locator("td").nth(0).inner_text(): row.locator("td").nth(1).inner_text()
             for row in page.locator("table").first.locator("tr").all()[1:]}
    assert set(files) == {p.name for p in fixtures.values()}
    for name, outcome in files.items():
        if name != "broken.docx":
            assert outcome.endswith("unchanged") and not outcome.startswith("0 new"), (name, outcome)
    assert "Refused: broken.docx: not a DOCX file (not a ZIP archive); it looks like a PDF" in files["broken.docx"]
    rejected = page.inner_text("#rejected")
    assert "faq.xlsx\t3\tmissing answer" in rejected and "faq.jsonl\t2\tnot valid JSON" in rejected
    page.screenshot(path=str(shots / "console_import.png"), full_page=True)

    page.goto(f"{server_url}/admin/entries?text=gift+cards")
    page.click("text=Do you sell gift cards?")
    page.wait_for_url(f"{server_url}/admin/entries/gift-cards")
    assert page.input_value("#answer") == "Yes, from $10 to $500."
    page.fill("#answer", NEW_ANSWER)
    page.fill("#reason", "out of stock")
    page.click("text=Save changes")
    page.wait_for_url(f"{server_url}/admin/entries/gift-cards?saved=1")
    assert "Saved." in page.inner_text("[role=status]") and page.input_value("#answer") == NEW_ANSWER
    asked = httpx.post(f"{server_url}/api/ask", json={"message": "Do you sell gift cards?"}, timeout=60).json()
    assert asked["action"] == "answer" and asked["answer"] == NEW_ANSWER, asked
    assert outside == [] and errors == []
    context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_entries_and_edit_pages_fit_desktop_and_phone(browser, server_url: str, size: str, tmp_path: Path) -> None:
    shots = Path(os.environ.get("CHATBOT_TEST_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    sign_in(page, server_url)
    suffix = "" if size == "desktop" else "_phone"
    assert page.locator("table tr").count() > 1 and page.is_visible("text=New entry")
    # Nothing wider than the screen but the table, which scrolls in its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(shots / f"console_entries{suffix}.png"), full_page=size == "phone")
    page.goto(f"{server_url}/admin/entries/returns")
    page.screenshot(path=str(shots / f"console_edit{suffix}.png"), full_page=True)
    page.fill("#answer", "")  # saving an empty answer is refused, and what was typed stays
    page.fill("#category", "returns and refunds")
    page.evaluate("document.querySelector('form[method=post] textarea#answer').removeAttribute('required')")
    page.click("text=Save changes")
    assert "answer is empty" in page.inner_text("[role=alert]")
    assert page.input_value("#category") == "returns and refunds"
    context.close()
