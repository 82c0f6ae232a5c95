"""The one way tests build the application object: services over a data folder, with a FAQ
imported and settings overridden (the `make_services` fixture of conftest.py wraps it).

    services = services_with_faq(home, FAQ_CSV, generator="extractive", top_k=2)
"""

from __future__ import annotations

from pathlib import Path

from chatbot.services import Services, build_services
from chatbot.settings import Settings

# A small shop FAQ (four entries, with alternates and a url) that server and fuzz tests start from.
SHOP_FAQ = """\
id,question,alternates,answer,url
shipping-time,How long does shipping take?,When will my order arrive?|How many days does delivery take?,Orders arrive in 3-5 business days within the continental US.,https://help.example.com/shipping
returns,How do I return an item?,Can I send something back?|What is your return policy?,You can return any item within 30 days for a full refund.,
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,"We accept Visa, Mastercard, American Express and PayPal.",
store-hours,When is your customer service open?,What are your opening hours?,Our support team answers Monday to Friday from 9am to 6pm.,
"""


def services_with_faq(home: Path, faq: str | None = None, *, filename: str = "faq.csv", warm: bool = False,
                      **settings: object) -> Services:
    """Services over `home` (the extractive generator unless `settings` name another), with
    `faq` (file text, CSV unless `filename` says otherwise) imported and checked to import
    cleanly; `warm` loads the models first, as the server does at start-up."""
    services = build_services(Settings(home=home, **{"generator": "extractive", **settings}))
    if faq is not None:
        path = home.parent / filename
        path.write_text(faq, encoding="utf-8")
        [report] = services.import_files([path])
        assert report.imported and not report.errors, report
    if warm:
        services.warm_up()
    return services
