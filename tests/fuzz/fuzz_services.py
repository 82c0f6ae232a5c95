"""What every fuzz module runs against: a FAQ to start from, and one database's services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatbot.services import Services

# The entries every run starts from: a question about each is answered, not abstained.
BASE_FAQ = """\
id,question,alternates,answer,url
shipping-time,How long does shipping take?,When will my order arrive?|How many days does delivery take?,Orders arrive in 3-5 business days within the continental US.,https://help.example.com/shipping
returns,How do I return an item?,Can I send something back?|What is your return policy?,You can return any item within 30 days for a full refund.,
payment,Which payment methods do you accept?,Can I pay with PayPal?|Do you take credit cards?,"We accept Visa, Mastercard, American Express and PayPal.",
store-hours,When is your customer service open?,What are your opening hours?,Our support team answers Monday to Friday from 9am to 6pm.,
"""
BASE_IDS = ("shipping-time", "returns", "payment", "store-hours")


@dataclass(frozen=True)
class FuzzTarget:
    """One database of one module: its kind, URL, data folder and services."""

    database: str  # "sqlite" | "postgres"
    url: str
    home: Path
    services: Services
