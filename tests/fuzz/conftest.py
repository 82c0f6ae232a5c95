"""Fixtures of the fuzz suite: every module runs once on SQLite and once on PostgreSQL, each time
with its own data folder, database and services (the extractive generator: fast and exact).

The PostgreSQL server is the session's (`postgres_url` in tests/conftest.py), asked for only
when a PostgreSQL run starts, so that `-k sqlite` needs none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faq_services import services_with_faq
from fuzz_services import BASE_FAQ, FuzzTarget
from live_server import module_home
from pg_server import create_database, drop_database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def fuzz_embedding_model() -> str:
    """The embedding model of the module's services: "auto" (the product's default) unless a
    module overrides this fixture."""
    return "auto"


@pytest.fixture(scope="module")
def fuzz_target(request: pytest.FixtureRequest, database_kind: str, tmp_path_factory: pytest.TempPathFactory,
                converted_models: Path, fuzz_embedding_model: str) -> Iterator[FuzzTarget]:
    """Services over a fresh data folder and database of `database_kind`, the base FAQ imported
    and every model loaded."""
    folder = tmp_path_factory.mktemp(f"fuzz-{database_kind}")
    with module_home(folder, converted_models) as home:
        if database_kind == "sqlite":
            services = services_with_faq(home, BASE_FAQ, warm=True, embedding_model=fuzz_embedding_model)
            yield FuzzTarget("sqlite", services.settings.database_url, home, services)
            services.database.dispose()
            return
        admin_url = request.getfixturevalue("postgres_url")
        name = f"fuzz_{uuid.uuid4().hex[:16]}"
        url = create_database(admin_url, name)
        try:
            services = services_with_faq(home, BASE_FAQ, warm=True, database_url=url,
                                         embedding_model=fuzz_embedding_model)
            yield FuzzTarget("postgres", url, home, services)
            services.database.dispose()
        finally:
            drop_database(admin_url, name)
