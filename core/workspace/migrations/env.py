"""Alembic environment: run on the connection ``core.workspace.db`` hands over.

``alembic upgrade head`` runs programmatically when a workspace opens (see
``core.workspace.db.migrate``); new revisions are written with the ``alembic`` command
against any workspace URL, e.g. ``alembic -c core/workspace/alembic.ini revision -m "..."``.
"""

from alembic import context
from sqlalchemy import create_engine

from core.workspace.models import Base

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command line: a URL from alembic.ini or -x db=URL
        url = context.get_x_argument(as_dictionary=True).get("db") or config.get_main_option("sqlalchemy.url")
        with create_engine(url).connect() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection) -> None:
    # SQLite can't ALTER most things in place: batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database URL.")
run_migrations_online()
