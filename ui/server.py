"""The web server: assembles the HTTP API under /api (`ui.api.routes`), the OpenAI-compatible API
under /v1 (`ui.api.openai_routes`), the staff console at /admin and its API under /api/admin
(`ui.console`), the chat widget (`ui.widget.routes`) and the customer chat page at /, and runs it.

    >>> app = create_app(build_services(load_settings()))   # a FastAPI app; uvicorn serves it
    >>> run_server(services, "127.0.0.1", 7860)              # warm up the models, then serve

Routes only call the application object created at start-up (`Services`); every error answer
(status and message) is set in `ui.api.errors`, and no exception reaches uvicorn
(`ui.api.internal_errors`). Gradio's upload and file routes are closed (`ui.chat.closed_routes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr
from fastapi import Depends, FastAPI
from starlette.routing import Mount

from ui.api.errors import ContentLengthLimit, add_api_error_handlers, api_error_body, openai_error_body
from ui.api.internal_errors import ErrorNet, answer_unexpected_errors, protect
from ui.api.openapi_docs import docs_options, document_mounted_app
from ui.api.openai_routes import create_openai_app
from ui.api.openai_schema import error_json
from ui.api.responses import DATABASE_DOWN
from ui.api.routes import MAX_BODY_BYTES, api_router
from ui.chat.app import DEFAULT_TITLE, build_chat_app
from ui.chat.look import CHAT_CSS, CHAT_HEAD, chat_theme
from ui.chat.closed_routes import ClosedGradioRoutes
from ui.chat.visitor_cookie import VisitorCookie
from ui.console.analytics import analytics_router
from ui.console.api_routes import staff_api_router
from ui.console.entry_pages import entry_pages
from ui.console.import_api_routes import import_api_router
from ui.console.import_pages import import_pages
from ui.console.history_api import history_api_router
from ui.console.history_pages import history_pages
from ui.console.conversation_pages import conversation_console
from ui.console.pages import add_console_handlers, console_pages
from ui.console.uploads import UPLOAD_PATHS, add_upload_handlers
from ui.console.hit_test_page import hit_test_page
from ui.console.settings_routes import settings_routes
from ui.console.replay_pages import replay_pages
from ui.console.queue_page import queue_pages
from ui.console.queue_routes import queue_api_router
from ui.widget.access import widget_guard
from ui.widget.routes import widget_router

if TYPE_CHECKING:
    from chatbot.services import Services

__all__ = ["DATABASE_DOWN", "MAX_BODY_BYTES", "create_app", "run_server"]


def create_app(services: "Services", title: str = DEFAULT_TITLE, api_docs: bool = False) -> FastAPI:
    """The FastAPI app: /api routes, the OpenAI-compatible API at /v1, then the chat page mounted
    at / (it serves everything else). `api_docs` turns on /docs and /redoc (`ui.api.openapi_docs`).

    No exception reaches the HTTP server (`ui.api.internal_errors`): each door answers an
    unexpected one as a JSON 500 in its own shape, with the error id of the logged traceback.
    """
    app = FastAPI(title=title, summary="Customer-service chatbot API", **docs_options(api_docs))
    # Requests of the widget (an X-Site-Key header) are checked before any /api route runs.
    app.include_router(api_router(services), dependencies=[Depends(widget_guard(services))])
    app.include_router(widget_router(services))  # /widget.js and the page it frames
    app.include_router(import_api_router(services))  # before the entries': /api/admin/entries/export
    app.include_router(staff_api_router(services))  # the staff API, /api/admin (ui.console)
    app.include_router(console_pages(services))  # the staff console's pages, /admin
    app.include_router(entry_pages(services))  # the knowledge-base editor, /admin/entries
    app.include_router(import_pages(services))  # imports with progress and report, /admin/imports
    app.include_router(history_api_router(services))  # entry history and rollback, /api/admin
    app.include_router(history_pages(services))  # their pages, /admin/entries/{id}/history, /admin/kb
    app.include_router(conversation_console(services))  # the conversation log and the inbox (ui.console)
    app.include_router(hit_test_page(services))  # /admin/hit-test
    for router in settings_routes(services):  # /api/admin/settings and /admin/settings
        app.include_router(router)
    app.include_router(replay_pages(services))  # /admin/replays (ui.console.replay_pages)
    app.include_router(analytics_router(services))  # /admin/analytics and /api/admin/analytics
    app.include_router(queue_api_router(services))  # the unanswered queue: its API and its page
    app.include_router(queue_pages(services))
    add_console_handlers(app)
    add_upload_handlers(app)
    openai_app = create_openai_app(services, MAX_BODY_BYTES)
    app.mount("/v1", ErrorNet(ContentLengthLimit(openai_app, MAX_BODY_BYTES, prefix="/",
                                                 error_body=lambda message: error_json(message, code="request_too_large")),
                              openai_error_body))
    document_mounted_app(app, openai_app, "/v1")
    app.add_middleware(ContentLengthLimit, max_bytes=MAX_BODY_BYTES, own_limits=UPLOAD_PATHS)
    app.add_middleware(ClosedGradioRoutes)  # no anonymous uploads, no file serving
    app.add_middleware(VisitorCookie)  # the chat page binds its conversations to its visitor
    add_api_error_handlers(app, MAX_BODY_BYTES)
    protect(app, api_error_body)  # outermost: no exception reaches uvicorn
    # Routes registered above take precedence over the mount, which catches every other path.
    app = gr.mount_gradio_app(app, build_chat_app(services, title), path="/",
                              footer_links=[], run_history=False, show_error=False,
                              theme=chat_theme(), css=CHAT_CSS, head=CHAT_HEAD)
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, gr.routes.App):
            answer_unexpected_errors(route.app)  # the chat page's own 500s: JSON with an error id
    return app


def run_server(services: "Services", host: str | None = None, port: int | None = None) -> None:
    """Load every model and the index first, then serve until interrupted."""
    import uvicorn

    services.warm_up()
    uvicorn.run(create_app(services, api_docs=services.settings.api_docs), host=host or services.settings.host,
                port=port or services.settings.port)
