"""What every fuzz module runs against: a FAQ to start from, and one database's services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faq_services import SHOP_FAQ

from chatbot.services import Services

# The entries every run starts from: a question about each is answered, not abstained.
BASE_FAQ = SHOP_FAQ
BASE_IDS = ("shipping-time", "returns", "payment", "store-hours")


@dataclass(frozen=True)
class FuzzTarget:
    """One database of one module: its kind, URL, data folder and services."""

    database: str  # "sqlite" | "postgres"
    url: str
    home: Path
    services: Services
