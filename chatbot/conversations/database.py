"""Database engines and schema migrations, for SQLite (one machine) and PostgreSQL (many).

    >>> engine = create_db_engine("sqlite:////tmp/bot/chatbot.db")
    >>> upgrade_database("sqlite:////tmp/bot/chatbot.db")   # empty database -> latest schema
    >>> check_database(engine)                              # raises DatabaseUnavailable if down
    >>> check_writable(engine)                              # ... or DatabaseBusy if locked
    >>> with database_errors(engine): ...                   # driver errors -> chatbot.errors types

The driver's errors are translated here, once, into the typed errors of `chatbot.errors`:
`DatabaseUnavailable`, `DatabaseBusy` (after `retry_when_busy`'s retries) and `InvalidInput`.

Migrations run programmatically from the `migrations` package folder, so they work from an
installed package and from any working directory; no `alembic.ini` is read.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DatabaseError, DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chatbot.errors import ChatbotError, DatabaseBusy, DatabaseUnavailable, InvalidInput

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000  # writers wait this long for a lock instead of failing at once
POSTGRES_CONNECT_TIMEOUT_S = 10  # an unreachable host fails in seconds, not minutes
# A busy database is tried this many times in all, waiting about 0.1, then 0.2 s (jittered)
# between tries; SQLite has already waited its busy timeout inside each try.
BUSY_ATTEMPTS = 3
BUSY_FIRST_WAIT_S = 0.1
# PostgreSQL SQLSTATEs that pass by themselves: too many connections (53300), lock not
# available (55P03), deadlock (40P01), serialization failure (40001).
_PG_BUSY_STATES = {"53300", "55P03", "40P01", "40001"}
# sqlite3 codes of a file that is not a database, or a damaged one (raised as a plain DatabaseError).
_SQLITE_BROKEN = ("SQLITE_NOTADB", "SQLITE_CORRUPT")

P = ParamSpec("P")
T = TypeVar("T")

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


def _reason(url: URL | None, error: Exception) -> str:
    reason = " ".join(str(getattr(error, "orig", None) or error).split())
    if url is not None and url.password:
        reason = reason.replace(str(url.password), "***")
    return re.sub(r"\(Background on this error at: [^)]*\)", "", reason).strip()


def _where(url: URL | None) -> str:
    return f"{describe_url(url)}: " if url is not None else ""


def _is_busy(error: Exception) -> bool:
    if isinstance(error, PoolTimeout):  # every pooled connection is in use
        return True
    orig = getattr(error, "orig", None)
    # sqlite3: SQLITE_BUSY, SQLITE_LOCKED and their extended codes (SQLITE_BUSY_SNAPSHOT, ...).
    if str(getattr(orig, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    return getattr(orig, "sqlstate", None) in _PG_BUSY_STATES


def unencodable_text(error: UnicodeEncodeError) -> InvalidInput:
    """The `InvalidInput` for text that UTF-8 cannot encode: a lone surrogate, which no database
    stores. A net only: the stores make every text storable first (`knowledge_base.storable`)."""
    bad = ", ".join(f"U+{ord(c):04X}" for c in error.object[error.start:error.end])
    return InvalidInput(f"The text cannot be stored: it holds {bad}, half of a UTF-16 surrogate pair, "
                        "which is not a character. Send valid Unicode text.")


def typed_database_error(error: BaseException, url: URL | None = None) -> ChatbotError | None:
    """The typed error (`chatbot.errors`) that a database driver's `error` means, or None when it
    means none of them (a bug: let it surface). The one translation of driver errors: the stores
    use it through `database_errors`, and front doors as a net for errors that escaped a store.
    `url` names the database in the operator's message (password masked)."""
    if isinstance(error, ChatbotError):
        return error
    if isinstance(error, DataError):  # PostgreSQL: a NUL character, a value over its column's size
        return InvalidInput(f"The text cannot be stored: {_reason(None, error).split(chr(10))[0]}")
    if _is_busy(error):
        return DatabaseBusy(f"Database busy: {_where(url)}{_reason(url, error)}")
    if str(getattr(getattr(error, "orig", None), "sqlite_errorname", "")).startswith(_SQLITE_BROKEN):
        return DatabaseUnavailable(f"Database unavailable: {_where(url)}the file is not an SQLite database or "
                                   f"is damaged ({_reason(url, error)}); restore it from a backup")
    if isinstance(error, (OperationalError, InterfaceError)):
        # sqlite3 reports SQL mistakes ("no such table") as OperationalError too, with the generic
        # code SQLITE_ERROR; cannot-open, I/O, read-only and corrupt have their own codes.
        if getattr(error.orig, "sqlite_errorname", None) == "SQLITE_ERROR":
            return None
        return DatabaseUnavailable(f"Database unavailable: {_where(url)}{_reason(url, error)}")
    return None


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Turn the driver's errors inside the block into the typed errors of `chatbot.errors`."""
    try:
        yield
    except UnicodeEncodeError as error:  # raised by the driver before the statement is sent
        raise unencodable_text(error) from error
    except (DatabaseError, InterfaceError, PoolTimeout) as error:  # DatabaseError: Operational, Data, ...
        typed = typed_database_error(error, engine.url)
        if typed is None:
            raise
        raise typed from error


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction (committed at the end, rolled back on an error), the driver's
    errors translated (`database_errors`): what every store's write runs in."""
    with database_errors(engine), Session(engine) as session, session.begin():
        yield session


def retry_when_busy(operation: Callable[P, T]) -> Callable[P, T]:
    """Run `operation` again when it raises `DatabaseBusy`, up to `BUSY_ATTEMPTS` tries in all,
    with a short jittered back-off; the last `DatabaseBusy` is raised. For whole transactions
    only: a retried operation starts over from its beginning."""

    @functools.wraps(operation)
    def retried(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            try:
                return operation(*args, **kwargs)
            except DatabaseBusy as error:
                if attempt == BUSY_ATTEMPTS:
                    raise
                log.warning("database busy (try %d of %d), retrying: %s", attempt, BUSY_ATTEMPTS, error)
                time.sleep(BUSY_FIRST_WAIT_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    return retried


def check_database(engine: Engine) -> None:
    """Connect and run `SELECT 1`; raise `DatabaseUnavailable` saying what failed, if it fails."""
    with database_errors(engine), engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_writable(engine: Engine) -> None:
    """Like `check_database`, and on SQLite also take the write lock and give it back at once, so
    that a database locked by another writer is `DatabaseBusy` (after its busy timeout) before a
    turn is worked on, not after. PostgreSQL locks rows, not the database: connecting is enough."""
    with database_errors(engine), engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # pysqlite opens no transaction by itself before these: they pass through as written.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.exec_driver_sql("ROLLBACK")
        else:
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
