"""The web server: assembles the HTTP API under /api (`ui.api.routes`), the OpenAI-compatible API
under /v1 (`ui.api.openai_routes`) and the customer chat page at /, and runs it.

    >>> app = create_app(build_services(load_settings()))   # a FastAPI app; uvicorn serves it
    >>> run_server(services, "127.0.0.1", 7860)              # warm up the models, then serve

Routes only call the application object created at start-up (`Services`); every error answer
(status and message) is set in `ui.api.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr
from fastapi import FastAPI

from ui.api.errors import ContentLengthLimit, add_api_error_handlers
from ui.api.openai_routes import create_openai_app
from ui.api.openai_schema import error_json
from ui.api.responses import DATABASE_DOWN
from ui.api.routes import MAX_BODY_BYTES, api_router
from ui.chat.app import DEFAULT_TITLE, build_chat_app, chat_theme

if TYPE_CHECKING:
    from chatbot.services import Services

__all__ = ["DATABASE_DOWN", "MAX_BODY_BYTES", "create_app", "run_server"]


def create_app(services: "Services", title: str = DEFAULT_TITLE) -> FastAPI:
    """The FastAPI app: /api routes, the OpenAI-compatible API at /v1, then the chat page mounted
    at / (it serves everything else)."""
    app = FastAPI(title=title, summary="Customer-service chatbot API")
    app.include_router(api_router(services))
    openai_app = create_openai_app(services, MAX_BODY_BYTES)
    app.mount("/v1", ContentLengthLimit(openai_app, MAX_BODY_BYTES, prefix="/",
                                        error_body=lambda message: error_json(message, code="request_too_large")))
    app.add_middleware(ContentLengthLimit, max_bytes=MAX_BODY_BYTES)
    add_api_error_handlers(app, MAX_BODY_BYTES)
    # Routes registered above take precedence over the mount, which catches every other path.
    return gr.mount_gradio_app(app, build_chat_app(services, title), path="/",
                               footer_links=[], run_history=False, show_error=False,
                               theme=chat_theme())


def run_server(services: "Services", host: str | None = None, port: int | None = None) -> None:
    """Load every model and the index first, then serve until interrupted."""
    import uvicorn

    services.warm_up()
    uvicorn.run(create_app(services), host=host or services.settings.host,
                port=port or services.settings.port)
