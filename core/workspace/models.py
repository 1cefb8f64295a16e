"""The workspace tables as SQLAlchemy 2 ORM classes.

The classes describe the schema at Alembic's head revision; Alembic's migrations in
``core/workspace/migrations/versions`` create and change the tables (the ORM never does).
A flagged row carries its current verdict; every change of it is appended to ``audit``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

VERDICTS = ("confirmed", "benign", "review")
RULE_KINDS = ("sender", "sender_domain", "pair", "subject_regex")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out: SQLite stores no zone and hands back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One scoring of one log by one model."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    analyst: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(40), default="")  # "cli", "dashboard"
    model_name: Mapped[str] = mapped_column(String(200))
    model_checksum: Mapped[str] = mapped_column(String(64), default="")  # SHA-256 of the bundle's MANIFEST
    data_name: Mapped[str] = mapped_column(String(500))
    data_sha256: Mapped[str] = mapped_column(String(64), default="")
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_scored: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    threshold_rule: Mapped[str] = mapped_column(String(200), default="fitted")
    n_above: Mapped[int] = mapped_column(Integer)  # rows above the threshold = rows stored
    n_flagged: Mapped[int] = mapped_column(Integer)  # of those, not suppressed by a rule
    n_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    # Rows above the threshold inside a known event: counted here, not stored (not in the queue).
    n_in_events: Mapped[int] = mapped_column(Integer, default=0)

    rows: Mapped[list[FlaggedRow]] = relationship(back_populates="run", passive_deletes=True)


class FlaggedRow(Base):
    """A row of a run above its threshold: the message's fields, why, and its current verdict."""

    __tablename__ = "flagged_rows"
    __table_args__ = (Index("ix_flagged_rows_run_uuid", "run_id", "uuid"), Index("ix_flagged_rows_sender", "sender"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based row of the input log
    uuid: Mapped[str] = mapped_column(Text)
    error: Mapped[float] = mapped_column(Float)
    top_field: Mapped[str] = mapped_column(String(40), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(Text, default="")
    recipient: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    time_processed: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suppressed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # rule id
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    verdict_reason: Mapped[str] = mapped_column(String(200), default="")
    verdict_note: Mapped[str] = mapped_column(Text, default="")
    verdict_analyst: Mapped[str] = mapped_column(String(200), default="")
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    run: Mapped[Run] = relationship(back_populates="rows")


class Rule(Base):
    """An allow-list rule; removal is a soft delete (``removed_at``), so the list keeps its history."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(Text)  # address, domain, sender of a pair, or pattern
    recipient: Mapped[str] = mapped_column(Text, default="")  # pairs only
    expires: Mapped[date | None] = mapped_column(Date, nullable=True)  # last day it matches
    note: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_by: Mapped[str] = mapped_column(String(200), default="")

    def active_on(self, day: date) -> bool:
        return self.removed_at is None and (self.expires is None or self.expires >= day)

    @property
    def label(self) -> str:
        """How people read the rule: ``sender_domain example.com``, ``pair a@x → b@y``."""
        target = f"{self.value} → {self.recipient}" if self.kind == "pair" else self.value
        return f"{self.kind} {target}"


class KnownEvent(Base):
    """A declared time window (maintenance, a marketing blast, a migration): rows whose time falls
    in ``[starts, ends)`` are scored but not flagged nor trained on. Removal is a soft delete."""

    __tablename__ = "known_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts: Mapped[datetime] = mapped_column(UTCDateTime)
    ends: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_by: Mapped[str] = mapped_column(String(200), default="")

    @property
    def label(self) -> str:
        """``2026-11-02 09:00Z – 2026-11-02 11:00Z``."""
        return f"{self.starts:%Y-%m-%d %H:%MZ} – {self.ends:%Y-%m-%d %H:%MZ}"


class User(Base):
    """Someone who signed in, and their role (``core.access.ROLES``). Emails are kept lower-case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")  # who gave the role ("" = first sign-in)


class AuditEntry(Base):
    """One change: who, when, what (entity + id), old → new (JSON text). Only ever appended."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    analyst: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40))  # verdict, run, rule.add/remove/apply, event.add/remove, role
    entity: Mapped[str] = mapped_column(String(40))  # flagged_row, run, rule, event, user
    entity_id: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    old: Mapped[str] = mapped_column(Text, default="")
    new: Mapped[str] = mapped_column(Text, default="")
