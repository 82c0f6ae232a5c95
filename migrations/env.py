"""Alembic environment: the product's one metadata, on SQLite or PostgreSQL.

Called by `chatbot.conversations.database.upgrade_database` (URL in `config.attributes["url"]`) or by the
alembic CLI (`alembic -c migrations/alembic.ini upgrade head`), where the URL comes from
`-x url=...`, else `sqlalchemy.url` in the ini, else the product settings (CHATBOT_DATABASE_URL).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import URL, Connection

import chatbot.conversations.labels  # noqa: F401  (registers the label table on Base)
import chatbot.conversations.tables  # noqa: F401  (registers the conversation tables on Base)
import chatbot.sites.store  # noqa: F401  (registers the sites table on Base)
import chatbot.staff.tables  # noqa: F401  (registers the staff tables on Base)
from chatbot.conversations.database import check_database, create_db_engine
from knowledge_base.db_models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and not config.attributes.get("url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str | URL:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        url = config.get_main_option("sqlalchemy.url")
    if not url:
        from chatbot.settings import load_settings

        url = load_settings().database_url
    return url


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    """Write the SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    url = _database_url()
    dialect = url.get_backend_name() if isinstance(url, URL) else str(url).split(":", 1)[0]
    _configure(url=url, literal_binds=True, render_as_batch=dialect.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    sqlite = connection.dialect.name == "sqlite"
    _configure(connection=connection, render_as_batch=sqlite)
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # Copying a table drops the old one, and with foreign keys on (the product's connections turn
    # them on) that drop deletes every row that references it ON DELETE CASCADE: recreating
    # turn_traces would take all staff labels with it. So foreign keys are off while migrating
    # (SQLite ignores the pragma inside a transaction: it is set before the migration's begins),
    # checked afterwards, and on again.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows whose references are missing: {broken[:5]}")
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_db_engine(_database_url())
    try:
        check_database(engine)  # a clear DatabaseUnavailable instead of a driver traceback
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
