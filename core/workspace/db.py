"""Where the workspace lives, one Engine per URL, migrations on open, and retried writes.

Default: ``workspace.db`` (SQLite, WAL) in the artifacts folder, so one analyst needs nothing
else. A team points every dashboard server and CLI at one PostgreSQL with ``--db URL`` or
``EMAIL_AD_DB=postgresql+psycopg://user:password@host/dbname``.

SQLite: WAL lets readers read while one process writes; every connection waits
``busy_timeout`` for a lock; write transactions start with ``BEGIN IMMEDIATE`` (taking the
write lock up front, so two writers queue instead of one failing half-way), and a write that
still finds the database locked is retried a few times before the analyst gets a one-line
message. PostgreSQL: rows a write changes are locked with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, exc, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.errors import DataError

ENV_VAR = "EMAIL_AD_DB"
DB_FILE = "workspace.db"
BUSY_TIMEOUT = 5.0  # seconds a SQLite connection waits for a lock before giving up
WRITE_ATTEMPTS = 4  # a write that still finds SQLite locked is tried this often in all
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration; a database already there opens without importing Alembic (a test
# keeps this in step with migrations/versions).
HEAD = "0004"

T = TypeVar("T")
_ENGINES: dict[tuple[str, float], Engine] = {}
_MIGRATED: set[tuple[str, float]] = set()
_LOCK = threading.Lock()


def resolve_url(db: str | None = None, artifacts_dir: str | os.PathLike | None = None) -> str:
    """The workspace URL: ``db`` if given, else ``$EMAIL_AD_DB``, else SQLite in the artifacts folder."""
    url = db or os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    from core.artifacts import DEFAULT_ARTIFACTS

    folder = Path(artifacts_dir) if artifacts_dir else DEFAULT_ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / DB_FILE).resolve()}"


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<malformed URL>"


def get_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """The process's one Engine for ``url`` (created on first use)."""
    key = (url, busy_timeout)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _create_engine(url, busy_timeout)
        return engine


def _create_engine(url: str, busy_timeout: float) -> Engine:
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise DataError(
            f"Workspace database URL {url!r} is malformed: expected e.g. sqlite:///path/workspace.db "
            "or postgresql+psycopg://user:password@host/dbname."
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DataError(f"Workspace database {display_url(url)}: expected SQLite or PostgreSQL, got {backend!r}.")
    try:
        if backend == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise DataError("The workspace needs a SQLite file (sqlite:///path/workspace.db), not memory.")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
            _sqlite_events(engine, busy_timeout)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except ImportError as error:
        raise DataError(f"Workspace database {display_url(url)}: its driver is not installed ({error}).") from None
    return engine


def _sqlite_events(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # The driver's own transaction handling would start transactions late (at the first
        # write) and not at all for DDL; we issue BEGIN ourselves (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable up to the last checkpointed commit
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def dispose_engines() -> None:
    """Close every pooled connection (tests; a server shutting down)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _MIGRATED.clear()


# --------------------------------------------------------------------------- migrations


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def migrate(engine: Engine, url: str, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (``alembic upgrade``); refuse a newer schema than we know."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    # One transaction: check, then upgrade. SQLite's BEGIN IMMEDIATE and PostgreSQL's advisory
    # lock make a second process opening the same fresh database wait, then find it migrated.
    with engine.connect().execution_options(write=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        current = set(MigrationContext.configure(connection).get_current_heads())
        unknown = current - known
        if unknown:
            raise DataError(
                f"Workspace database {display_url(url)} has schema revision {', '.join(sorted(unknown))}, "
                f"newer than this version knows (up to {head_revision()}); upgrade this tool to use it."
            )
        command.upgrade(_alembic_config(connection), revision)


def open_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """The Engine for ``url`` with its schema at head (migrated once per process)."""
    engine = get_engine(url, busy_timeout=busy_timeout)
    key = (url, busy_timeout)
    if key not in _MIGRATED:
        if retrying(lambda: current_revision(engine), url) != HEAD:
            retrying(lambda: migrate(engine, url), url)
        _MIGRATED.add(key)
    return engine


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision (None for an empty database)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


# --------------------------------------------------------------------------- retried writes


def write_session(engine: Engine) -> Session:
    """A session whose transactions take SQLite's write lock at BEGIN."""
    return Session(engine.execution_options(write=True), expire_on_commit=False)


def is_locked(error: BaseException) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def retrying(work: Callable[[], T], url: str, *, attempts: int = WRITE_ATTEMPTS, pause: float = 0.2) -> T:
    """Run ``work`` (one whole transaction); if SQLite stayed locked past its busy timeout, try again.

    Anything else that goes wrong with the database becomes a one-line DataError.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except exc.OperationalError as error:
            if is_locked(error) and attempt < attempts:
                time.sleep(pause * attempt)
                continue
            if is_locked(error):
                raise DataError(
                    f"Workspace database {display_url(url)} stayed locked by another process; "
                    "nothing was written. Try again in a moment."
                ) from None
            raise DataError(f"Workspace database {display_url(url)}: {_first_line(error)}") from None
        except exc.DBAPIError as error:
            raise DataError(f"Workspace database {display_url(url)}: {_first_line(error)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
