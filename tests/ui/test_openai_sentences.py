"""An OpenAI-compatible stream carries a generated answer sentence by sentence over real HTTP:
each checked sentence is its own chunk, a failing one never is, and the chunks join to the logged
answer. A real server, embedder and SQLite; the generator's text is scripted."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from faq_services import services_with_faq
from live_server import module_home, running_server
from scripted_generator import ScriptedGenerator

from chatbot.engine import ChatEngine
from ui.server import create_app

pytestmark = pytest.mark.integration

FAQ = """id,question,answer
express,How fast is express shipping?,Express shipping arrives in 1-2 business days for $14.99.
returns,Can I return an item?,You can return items within 30 days of delivery.
"""
EXPRESS = "Express shipping arrives in 1-2 business days for $14.99."


def test_the_stream_carries_checked_sentences_and_never_a_failing_one(
        tmp_path_factory: pytest.TempPathFactory, converted_models: Path) -> None:
    with module_home(tmp_path_factory.mktemp("openai-sentences"), converted_models) as home:
        services = services_with_faq(home, FAQ, warm=True)
        generator = ScriptedGenerator("Express shipping takes 1-2 business days [1]. Express shipping is "
                                      "$7.50 [1]. Order by noon.")
        services.engine = ChatEngine(services.settings, services.retriever, generator, services.conversations)
        body = {"model": "support-chatbot", "stream": True,
                "messages": [{"role": "user", "content": "How fast is express shipping?"}]}
        with running_server(create_app(services)) as url, httpx.Client(base_url=url, timeout=60) as http:
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    contents = [e["choices"][0]["delta"]["content"] for e in events
                if e["choices"] and e["choices"][0]["delta"].get("content")]
    assert contents == ["Express shipping takes 1-2 business days [1].", "\n\n" + EXPRESS]
    final = events[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and final["sources"][0]["id"] == "express"
    logged = services.conversations.get_transcript(final["conversation_id"]).messages[-1]
    assert logged.content == "".join(contents) and "7.50" in logged.trace.replaced_answer
