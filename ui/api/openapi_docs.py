"""The API's description: `/openapi.json` documents /api and the mounted /v1 app; the
interactive pages (/docs, /redoc) are off unless `CHATBOT_API_DOCS=true`.

FastAPI's pages load Swagger UI and ReDoc from a CDN, so on the offline sites this product is made
for they would be blank pages; `/openapi.json` itself needs nothing from outside and stays on
(any OpenAPI viewer or client generator reads it). A site that can reach the CDN turns the pages
on with the setting.

    >>> app = FastAPI(**docs_options(settings.api_docs))
    >>> document_mounted_app(app, openai_app, "/v1")
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def docs_options(enabled: bool) -> dict[str, Any]:
    """FastAPI's arguments for the interactive docs pages: their default paths, or none."""
    return {} if enabled else {"docs_url": None, "redoc_url": None}


def document_mounted_app(app: FastAPI, mounted: FastAPI, prefix: str) -> None:
    """Make `app.openapi()` (served at /openapi.json) list `mounted`'s paths under `prefix` too:
    FastAPI leaves a mounted app out of the parent's schema."""
    own = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = own()
        other = mounted.openapi()
        for path, item in other.get("paths", {}).items():
            schema.setdefault("paths", {})[f"{prefix}{path}"] = item
        # Same-named models (FastAPI's validation errors) are the same definitions: first wins.
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in other.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
