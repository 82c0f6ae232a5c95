from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from knowledge_base.db_models import Base
from knowledge_base.embedding.embedder import Embedder
from knowledge_base.entries import Entry
from knowledge_base.repository import KnowledgeBaseRepository


@pytest.fixture
def repository(tmp_path: Path) -> KnowledgeBaseRepository:
    engine = create_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    Base.metadata.create_all(engine)
    return KnowledgeBaseRepository(engine)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real shipped embedder (all-MiniLM-L6-v2 from its PyPI package), loaded once."""
    model = Embedder("all-MiniLM-L6-v2", device="cpu")
    model.warm_up()
    return model


@pytest.fixture
def shop_entries() -> list[Entry]:
    return [
        Entry("ship-time", "How long does shipping take?", "Standard shipping takes 3-5 business days.",
              ["When will my order arrive?", "delivery time"], language="en"),
        Entry("returns", "Can I return an item?", "You can return items within 30 days of delivery.",
              ["What is your return policy?", "I want to send something back"], language="en"),
        Entry("payment", "Which payment methods do you accept?", "We accept Visa, Mastercard and PayPal.",
              ["Can I pay with PayPal?"], language="en"),
        Entry("password", "How do I reset my password?", "Use 'Forgot password' on the sign-in page.",
              ["I forgot my password", "can't log in"], language="en"),
    ]
