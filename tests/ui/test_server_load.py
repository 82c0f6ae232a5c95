"""Many customers at once on SQLite, over real HTTP to a real server: nobody gets an error.

100 customers (threads), each a conversation of a few turns through /api/ask and /v1, against
one uvicorn server whose conversation log is a SQLite file. Writers must wait for the lock (and
retry a busy database) instead of failing; a database that stays busy is a 503 "busy", never
"cannot be reached".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server

from chatbot.services import Services
from ui.server import create_app

pytestmark = pytest.mark.integration

CUSTOMERS = 100
TURNS = 3
FAQ_CSV = """\
id,question,alternates,answer
shipping-time,How long does shipping take?,When will my order arrive?,Orders arrive in 3-5 business days.
returns,How do I return an item?,Can I send something back?,You can return any item within 30 days.
payment,Which payment methods do you accept?,Can I pay with PayPal?,"We accept Visa, Mastercard and PayPal."
"""
QUESTIONS = ["When will my order arrive?", "Can I send something back?", "Can I pay with PayPal?"]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with module_home(tmp_path_factory.mktemp("load")) as home:
        services = services_with_faq(home, FAQ_CSV, warm=True)
        assert services.settings.database_url.startswith("sqlite")
        yield services


def customer(url: str, number: int) -> list[tuple[int, str]]:
    """One customer's conversation: (status, error text or "") of each turn."""
    results = []
    conversation_id = None
    with httpx.Client(base_url=url, timeout=120) as http:
        for turn in range(TURNS):
            question = QUESTIONS[(number + turn) % len(QUESTIONS)]
            if number % 2:  # half of them through the OpenAI-compatible door
                headers = {"X-Conversation-Id": conversation_id} if conversation_id else {}
                response = http.post("/v1/chat/completions", headers=headers,
                                     json={"messages": [{"role": "user", "content": question}]})
            else:
                response = http.post("/api/ask", json={"message": question, "conversation_id": conversation_id})
            ok = response.status_code == 200
            results.append((response.status_code, "" if ok else response.text))
            if ok:
                conversation_id = response.json()["conversation_id"]
    return results


def test_a_hundred_customers_at_once_get_no_errors(services: Services) -> None:
    turns_before = services.conversations.count_turns()
    with running_server(create_app(services)) as url, ThreadPoolExecutor(CUSTOMERS) as pool:
        results = [r for rs in pool.map(lambda n: customer(url, n), range(CUSTOMERS)) for r in rs]
    failures = Counter(f"{status} {text[:200]}" for status, text in results if status != 200)
    assert not failures, failures
    assert services.conversations.count_turns() == turns_before + CUSTOMERS * TURNS
    assert len(services.conversations.list_conversations(limit=1000)) == CUSTOMERS
