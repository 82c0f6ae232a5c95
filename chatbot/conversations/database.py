"""Database engines and schema migrations, for SQLite (one machine) and PostgreSQL (many).

    >>> engine = create_db_engine("sqlite:////tmp/bot/chatbot.db")
    >>> upgrade_database("sqlite:////tmp/bot/chatbot.db")   # empty database -> latest schema
    >>> check_database(engine)                              # raises DatabaseUnavailable if down

Migrations run programmatically from the `migrations` package folder, so they work from an
installed package and from any working directory; no `alembic.ini` is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

SQLITE_BUSY_TIMEOUT_MS = 5000  # writers wait this long for a lock instead of failing at once
POSTGRES_CONNECT_TIMEOUT_S = 10  # an unreachable host fails in seconds, not minutes


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message names it (password masked)."""


def describe_url(url: str | URL) -> str:
    """The URL with its password masked, plus host and database, for error messages and logs."""
    parsed = make_url(url)
    where = f"database {parsed.database or '(default)'}"
    if parsed.host:
        where = f"host {parsed.host}:{parsed.port or 'default port'}, {where}"
    return f"{parsed.render_as_string(hide_password=True)} ({where})"


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the app read while the logger writes; SQLite leaves foreign keys off by default.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def create_db_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An Engine set up for the product: WAL and foreign keys on SQLite, pre-ping on PostgreSQL.

    The SQLite file's folder is created when it can be; the engine connects lazily, so a
    database that cannot be opened is reported by `check_database` or the first query.
    """
    parsed = make_url(url)
    if _is_sqlite(parsed):
        path = _sqlite_file(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # reported as DatabaseUnavailable when the engine first connects
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)  # survive server restarts and idle timeouts
        if parsed.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query:
            kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT_S)
    return create_engine(parsed, **kwargs)


def _unavailable(url: URL, error: Exception) -> DatabaseUnavailable:
    reason = " ".join(str(getattr(error, "orig", None) or error).split())
    if url.password:
        reason = reason.replace(str(url.password), "***")
    reason = re.sub(r"\(Background on this error at: [^)]*\)", "", reason).strip()
    return DatabaseUnavailable(f"Database unavailable: {describe_url(url)}: {reason}")


def _means_unavailable(error: OperationalError | InterfaceError) -> bool:
    # sqlite3 reports SQL mistakes ("no such table") as OperationalError too, with the generic
    # code SQLITE_ERROR; cannot-open, busy, locked, I/O, read-only and corrupt have their own.
    code = getattr(error.orig, "sqlite_errorname", None)
    return code != "SQLITE_ERROR"


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Turn connection failures inside the block into `DatabaseUnavailable`."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        if not _means_unavailable(error):
            raise
        raise _unavailable(engine.url, error) from error


def check_database(engine: Engine) -> None:
    """Connect and run `SELECT 1`; raise `DatabaseUnavailable` saying what failed, if it fails."""
    with database_errors(engine), engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def migrations_folder() -> Path:
    """The folder of the `migrations` package (env.py, versions/), wherever it is installed."""
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(url: str | URL) -> Any:
    """An Alembic `Config` built in code; `url` travels in `config.attributes`, not the ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = make_url(url)
    return config


def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (the latest schema by default)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade_database(url: str | URL, revision: str) -> None:
    """Migrate the database at `url` down to `revision` (`"base"` drops every table)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)
