"""The workspace: runs, verdicts, allow-list rules and the audit trail, behind one object.

>>> ws = Workspace.open()                                    # artifacts/workspace.db, or $EMAIL_AD_DB
>>> scores = ws.apply_rules(score_log(detector, log))        # adds suppressed_by
>>> scores = ws.apply_events(scores)                         # adds known_event
>>> run = ws.record_run(scores, threshold, model_name=..., data_name=...)
>>> ws.set_verdicts(run.id, ["uuid-1", "uuid-2"], "benign", note="newsletter", analyst="ana")
>>> ws.flagged(run.id)                                       # the queue with current verdicts

Roles: ``Workspace(url, actor="ana@example.org")`` acts as that user; every write then checks
their role (kept in the ``users`` table, :mod:`core.access` has the matrix) inside its own
transaction and is recorded under that name. Without an actor (one analyst on their own machine,
the CLI) nothing is checked: the local user is the administrator.

Every public write is one transaction (all or nothing) and appends to the audit trail in
that same transaction. Results are plain dataclasses and DataFrames, usable after the
session closed (a dashboard keeps them across reruns).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from core.access import check_role, require
from core.errors import DataError
from core.provenance import ANALYST_ENV, default_analyst  # noqa: F401 - re-exported (the CLI, ui.auth)
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.workspace import db
from core.workspace.events import KNOWN_EVENT, EventSpec, check_window, match_events
from core.workspace.models import VERDICTS, AuditEntry, FlaggedRow, KnownEvent, Rule, Run, User, utcnow
from core.workspace.rules import SUPPRESSED_BY, RuleSpec, check_expiry, check_rule, match_rules, sender_address, today

T = TypeVar("T")

# Scores columns (as core.scoring names them; repeated so this module needn't import scoring's Arrow code).
ERROR = "reconstruction_error"
IS_ANOMALY = "is_anomaly"
TOP_FIELD = "top_field"
REASON = "reason"
VERDICT = "verdict"
_CHUNK = 500  # UUIDs per IN (...) list: well under every backend's parameter limit


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_checksum(bundle_path: str | os.PathLike) -> str:
    """SHA-256 of a bundle's MANIFEST (which lists every file's SHA-256): the model's fingerprint."""
    from core.artifacts import MANIFEST_FILE, sha256_of_file

    manifest = Path(bundle_path) / MANIFEST_FILE
    return sha256_of_file(manifest) if manifest.is_file() else ""


@dataclass(frozen=True)
class RunInfo:
    id: int
    created: datetime
    analyst: str
    origin: str
    model_name: str
    model_checksum: str
    data_name: str
    data_sha256: str
    rows_total: int
    rows_scored: int
    threshold: float
    threshold_rule: str
    n_above: int
    n_flagged: int
    n_suppressed: int
    n_in_events: int = 0  # above the threshold but inside a known event: not stored, not flagged
    n_reviewed: int = 0


@dataclass(frozen=True)
class RuleInfo:
    id: int
    kind: str
    value: str
    recipient: str
    expires: date | None
    note: str
    created: datetime
    created_by: str
    removed_at: datetime | None
    removed_by: str
    label: str
    state: str  # active, expired, removed

    @property
    def spec(self) -> RuleSpec:
        return RuleSpec(self.id, self.kind, self.value, self.recipient, self.expires)


@dataclass(frozen=True)
class EventInfo:
    id: int
    starts: datetime
    ends: datetime
    note: str
    created: datetime
    created_by: str
    removed_at: datetime | None
    removed_by: str
    label: str
    state: str  # active, removed

    @property
    def spec(self) -> EventSpec:
        return EventSpec(self.id, self.starts, self.ends)


@dataclass(frozen=True)
class UserInfo:
    email: str
    role: str
    created: datetime
    updated: datetime
    updated_by: str


@dataclass(frozen=True)
class AuditInfo:
    id: int
    at: datetime
    analyst: str
    action: str
    entity: str
    entity_id: str
    run_id: int | None
    old: str
    new: str


def _run_info(run: Run, reviewed: int = 0) -> RunInfo:
    return RunInfo(
        run.id,
        run.created,
        run.analyst,
        run.origin,
        run.model_name,
        run.model_checksum,
        run.data_name,
        run.data_sha256,
        run.rows_total,
        run.rows_scored,
        run.threshold,
        run.threshold_rule,
        run.n_above,
        run.n_flagged,
        run.n_suppressed,
        run.n_in_events,
        reviewed,
    )


def _rule_info(rule: Rule, day: date) -> RuleInfo:
    state = "removed" if rule.removed_at is not None else ("active" if rule.active_on(day) else "expired")
    return RuleInfo(
        rule.id,
        rule.kind,
        rule.value,
        rule.recipient,
        rule.expires,
        rule.note,
        rule.created,
        rule.created_by,
        rule.removed_at,
        rule.removed_by,
        rule.label,
        state,
    )


def _event_info(event: KnownEvent) -> EventInfo:
    return EventInfo(
        event.id,
        event.starts,
        event.ends,
        event.note,
        event.created,
        event.created_by,
        event.removed_at,
        event.removed_by,
        event.label,
        "removed" if event.removed_at is not None else "active",
    )


def _audit_info(entry: AuditEntry) -> AuditInfo:
    fields = ("id", "at", "analyst", "action", "entity", "entity_id", "run_id", "old", "new")
    return AuditInfo(*(getattr(entry, name) for name in fields))


def _user_info(user: User) -> UserInfo:
    return UserInfo(user.email, user.role, user.created, user.updated, user.updated_by)


def normalize_email(email: str) -> str:
    """Identities compare case-insensitively (``Ana@X.org`` is ``ana@x.org``)."""
    email = (email or "").strip().lower()
    if not email:
        raise DataError("No user given: expected an e-mail address (the signed-in identity).")
    return email


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _text(values: pd.Series) -> list[str]:
    return values.fillna("").astype(str).tolist()


def _times(values: pd.Series) -> list[datetime | None]:
    stamps = pd.to_datetime(values, errors="coerce", utc=True)
    return [None if pd.isna(t) else t.to_pydatetime() for t in stamps]


def _flagged_columns(rows: pd.DataFrame, run_id: int, suppressed: pd.Series) -> dict[str, list]:
    """The ``flagged_rows`` values of scored ``rows`` above the threshold, column by column: each
    row's place in the input (``position``), error and fields, and its suppressing rule."""
    blank = [""] * len(rows)
    return {
        "run_id": [run_id] * len(rows),
        "position": rows["position"].astype("int64").tolist(),
        "uuid": _text(rows[UUID]),
        "error": rows[ERROR].to_numpy(dtype=float).tolist(),
        "top_field": _text(rows[TOP_FIELD]) if TOP_FIELD in rows else blank,
        "reason": _text(rows[REASON]) if REASON in rows else blank,
        "sender": _text(rows[SENDER]),
        "recipient": _text(rows[RECIPIENT]),
        "subject": _text(rows[SUBJECT]),
        "time_processed": _times(rows[TIME]),
        "suppressed_by": [None if pd.isna(rule) else int(rule) for rule in suppressed],
        "verdict": [None] * len(rows),
        "verdict_reason": blank,
        "verdict_note": blank,
        "verdict_analyst": blank,
        "verdict_at": [None] * len(rows),
    }


def _insert_columns(session: Session, table, columns: dict[str, list]) -> None:
    """INSERT the rows given ``columns`` (one list of values per column, all given) with the
    driver's own ``executemany``. Each value goes through the column type's conversion for this
    database, exactly what SQLAlchemy does per parameter, but a column at a time: its per-row
    parameter handling made recording 60k flagged rows take 2.6 s on SQLite instead of 1.6 s."""
    connection = session.connection()
    dialect = connection.dialect
    converted = {}
    for key, values in columns.items():
        convert = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        converted[key] = values if convert is None else [convert(v) for v in values]
    # inline(): no RETURNING of each new id (PostgreSQL would send back one per row for nothing).
    statement = insert(table).inline().compile(dialect=dialect, column_keys=list(columns))
    if dialect.positional:  # e.g. SQLite's ?: values in the statement's own order
        parameters = list(zip(*(converted[key] for key in statement.positiontup), strict=True))
    else:  # named (psycopg's %(name)s)
        keys = list(converted)
        parameters = [dict(zip(keys, row, strict=True)) for row in zip(*converted.values(), strict=True)]
    if parameters:
        connection.exec_driver_sql(statement.string, parameters)


class Workspace:
    """One workspace database. Cheap to create: engines are shared per URL, the schema is
    migrated to head the first time a process opens a URL.

    ``actor``: the signed-in user this object acts for. Given, every write checks that user's
    role and is recorded under that name (an ``analyst=`` argument is then ignored); ``None``
    (no sign-in configured) checks nothing, as for the one local analyst.
    """

    def __init__(
        self,
        url: str,
        *,
        actor: str | None = None,
        busy_timeout: float = db.BUSY_TIMEOUT,
        attempts: int = db.WRITE_ATTEMPTS,
    ):
        self.url = url
        self.actor = normalize_email(actor) if actor is not None else None
        self.attempts = attempts
        self.engine = db.open_engine(url, busy_timeout=busy_timeout)

    @classmethod
    def open(cls, db_url: str | None = None, artifacts_dir: str | os.PathLike | None = None, **options) -> Workspace:
        """``db_url`` if given, else ``$EMAIL_AD_DB``, else ``workspace.db`` in the artifacts folder."""
        return cls(db.resolve_url(db_url, artifacts_dir), **options)

    def __repr__(self) -> str:
        return f"Workspace({db.display_url(self.url)!r})"

    # -- transactions --------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T], action: str | None = None) -> T:
        """Run ``work`` in one write transaction; with an actor, their role must allow ``action``
        (checked inside the transaction, so a role taken away a moment ago counts)."""

        def transaction():
            with db.write_session(self.engine) as session, session.begin():
                if action is not None and self.actor is not None:
                    require(self._role(session, self.actor), action)
                return work(session)

        return db.retrying(transaction, self.url, attempts=self.attempts)

    def _read(self, work: Callable[[Session], T]) -> T:
        def transaction():
            with Session(self.engine) as session, session.begin():
                return work(session)

        return db.retrying(transaction, self.url, attempts=self.attempts)

    def _who(self, analyst: str | None) -> str:
        """The name a write is recorded under: the actor when there is one, else ``analyst`` or the local user."""
        return self.actor or analyst or default_analyst()

    @staticmethod
    def _role(session: Session, email: str) -> str:
        """A user's role; someone not (yet) in the table is a viewer."""
        role = session.scalars(select(User.role).where(User.email == email)).first()
        return role or "viewer"

    @staticmethod
    def _audit(session: Session, analyst: str, action: str, entity: str, entity_id, run_id=None, old="", new=""):
        session.add(
            AuditEntry(
                at=utcnow(),
                analyst=analyst,
                action=action,
                entity=entity,
                entity_id=str(entity_id),
                run_id=run_id,
                old=old if isinstance(old, str) else _json(old),
                new=new if isinstance(new, str) else _json(new),
            )
        )

    @staticmethod
    def _get_run(session: Session, run_id: int, *, lock: bool = False) -> Run:
        query = select(Run).where(Run.id == int(run_id))
        run = session.scalars(query.with_for_update() if lock else query).first()
        if run is None:
            raise DataError(f"No run {run_id} in this workspace; `python -m core runs` lists them.")
        return run

    # -- runs ----------------------------------------------------------------------------

    def record_run(
        self,
        scores: pd.DataFrame,
        threshold: float,
        *,
        model_name: str,
        data_name: str,
        model_checksum: str = "",
        data_sha256: str = "",
        threshold_rule: str = "fitted",
        analyst: str | None = None,
        origin: str = "",
    ) -> RunInfo:
        """Store a scoring: its facts and every row above ``threshold`` (suppressed ones with their rule).

        ``scores`` is :func:`core.scoring.score_log`'s frame; its ``suppressed_by`` and ``known_event``
        columns are used when present (see :meth:`apply_rules`, :meth:`apply_events`), else the active
        rules and events are matched now. Rows above the threshold inside a known event are not
        stored (they never reach the queue); the run counts them in ``n_in_events``.
        """
        analyst = self._who(analyst)
        errors = scores[ERROR].to_numpy(dtype=float)
        above = np.flatnonzero(np.isfinite(errors) & (errors > threshold))
        if KNOWN_EVENT in scores:
            in_event = scores[KNOWN_EVENT].iloc[above].astype("Int64").notna().to_numpy(dtype=bool)
        else:
            in_event = match_events(scores.iloc[above], self.active_events()).notna().to_numpy(dtype=bool)
        n_in_events = int(in_event.sum())
        above = above[~in_event]
        rows = scores.iloc[above]
        if SUPPRESSED_BY in scores:
            suppressed = rows[SUPPRESSED_BY].astype("Int64")
        else:
            suppressed = match_rules(rows, self.active_rules())
        scored = int(scores["scored"].sum()) if "scored" in scores else int(np.isfinite(errors).sum())
        stored = rows.assign(position=above, **{SUPPRESSED_BY: suppressed})

        def batches():
            for start in range(0, len(stored), 5000):
                yield stored.iloc[start : start + 5000]

        return self.record_run_batches(
            batches,
            threshold,
            rows_total=len(scores),
            rows_scored=scored,
            n_in_events=n_in_events,
            model_name=model_name,
            data_name=data_name,
            model_checksum=model_checksum,
            data_sha256=data_sha256,
            threshold_rule=threshold_rule,
            analyst=analyst,
            origin=origin,
        )

    def record_run_batches(
        self,
        batches: Callable[[], Iterable[pd.DataFrame]],
        threshold: float,
        *,
        rows_total: int,
        rows_scored: int,
        n_in_events: int,
        model_name: str,
        data_name: str,
        model_checksum: str = "",
        data_sha256: str = "",
        threshold_rule: str = "fitted",
        analyst: str | None = None,
        origin: str = "",
    ) -> RunInfo:
        """Store a scoring whose rows live elsewhere (the Spark engine): the facts counted there
        and the rows :meth:`record_run` would store, streamed.

        ``batches()`` yields frames of the rows above ``threshold`` outside known events, in input
        order, each with ``position`` (the row's place in the input) and the scores' columns
        (``suppressed_by`` included); the rows above it inside a known event are only counted
        (``n_in_events``). One transaction, as :meth:`record_run`: the batches are read inside it
        one at a time (a callable, so that a retried transaction reads them again).
        """
        analyst = self._who(analyst)

        def work(session: Session) -> RunInfo:
            run = Run(
                created=utcnow(),
                analyst=analyst,
                origin=origin,
                model_name=model_name,
                model_checksum=model_checksum,
                data_name=data_name,
                data_sha256=data_sha256,
                rows_total=int(rows_total),
                rows_scored=int(rows_scored),
                threshold=float(threshold),
                threshold_rule=threshold_rule,
                n_above=0,
                n_flagged=0,
                n_suppressed=0,
                n_in_events=int(n_in_events),
            )
            session.add(run)
            session.flush()
            n_above = n_suppressed = 0
            for rows in batches():
                if not len(rows):
                    continue
                suppressed = rows[SUPPRESSED_BY].astype("Int64")
                _insert_columns(session, FlaggedRow.__table__, _flagged_columns(rows, run.id, suppressed))
                n_above += len(rows)
                n_suppressed += int(suppressed.notna().sum())
            run.n_above, run.n_flagged, run.n_suppressed = n_above, n_above - n_suppressed, n_suppressed
            new = {"model": model_name, "data": data_name, "flagged": run.n_flagged, "suppressed": n_suppressed}
            self._audit(session, analyst, "run", "run", run.id, run.id, new={**new, "in_events": int(n_in_events)})
            return _run_info(run)

        return self._write(work, "score")

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Recorded runs, newest first, with how many of their flagged rows have a verdict."""

        def work(session: Session) -> list[RunInfo]:
            reviewed = (
                select(FlaggedRow.run_id, func.count().label("n"))
                .where(FlaggedRow.verdict.is_not(None))
                .group_by(FlaggedRow.run_id)
                .subquery()
            )
            query = (
                select(Run, func.coalesce(reviewed.c.n, 0))
                .outerjoin(reviewed, reviewed.c.run_id == Run.id)
                .order_by(Run.id.desc())
                .limit(limit)
            )
            return [_run_info(run, n) for run, n in session.execute(query)]

        return self._read(work)

    def delete_run(self, run_id: int, *, analyst: str | None = None) -> RunInfo:
        """Delete a run and its stored rows and verdicts (an admin's action). The audit trail
        keeps the run's entries and one more saying who deleted it and what it held."""

        def work(session: Session) -> RunInfo:
            run = self._get_run(session, run_id, lock=True)
            reviewed = session.scalar(
                select(func.count()).where(FlaggedRow.run_id == run.id, FlaggedRow.verdict.is_not(None))
            )
            info = _run_info(run, reviewed)
            held = {
                "model": run.model_name,
                "data": run.data_name,
                "data_sha256": run.data_sha256,
                "flagged": run.n_flagged,
                "suppressed": run.n_suppressed,
                "verdicts": reviewed,
            }
            session.execute(delete(FlaggedRow).where(FlaggedRow.run_id == run.id))
            session.delete(run)
            self._audit(session, self._who(analyst), "run.delete", "run", info.id, info.id, old=held, new="deleted")
            return info

        return self._write(work, "delete")

    def record_model_deletion(self, name: str, checksum: str = "", *, analyst: str | None = None) -> None:
        """Append "model deleted" to the audit trail (bundles live in files, not in the database)."""

        def work(session: Session) -> None:
            self._audit(
                session, self._who(analyst), "model.delete", "model", name, old={"checksum": checksum}, new="deleted"
            )

        self._write(work, "delete")

    def run(self, run_id: int) -> RunInfo:
        return self._read(lambda session: _run_info(self._get_run(session, run_id)))

    def flagged(self, run_id: int, *, include_suppressed: bool = False) -> pd.DataFrame:
        """A run's stored rows with their current verdicts, highest error first. No model needed.

        Columns: UUID, reconstruction_error, top_field, reason, Sender, Recipient, Subject,
        Time Processed, suppressed_by, suppressed_rule (its label), verdict, verdict_reason,
        verdict_note, verdict_analyst, verdict_at, position (row in the input log).
        """

        def work(session: Session) -> pd.DataFrame:
            self._get_run(session, run_id)
            query = (
                select(FlaggedRow, Rule.kind, Rule.value, Rule.recipient)
                .outerjoin(Rule, Rule.id == FlaggedRow.suppressed_by)
                .where(FlaggedRow.run_id == int(run_id))
                .order_by(FlaggedRow.error.desc(), FlaggedRow.id)
            )
            if not include_suppressed:
                query = query.where(FlaggedRow.suppressed_by.is_(None))
            records = []
            for row, kind, value, recipient in session.execute(query):
                label = "" if kind is None else Rule(kind=kind, value=value, recipient=recipient).label
                records.append(
                    {
                        UUID: row.uuid,
                        ERROR: row.error,
                        TOP_FIELD: row.top_field,
                        REASON: row.reason,
                        SENDER: row.sender,
                        RECIPIENT: row.recipient,
                        SUBJECT: row.subject,
                        TIME: row.time_processed,
                        SUPPRESSED_BY: row.suppressed_by,
                        "suppressed_rule": label,
                        VERDICT: row.verdict or "",
                        "verdict_reason": row.verdict_reason,
                        "verdict_note": row.verdict_note,
                        "verdict_analyst": row.verdict_analyst,
                        "verdict_at": row.verdict_at,
                        "position": row.position,
                    }
                )
            return records

        records = self._read(work)
        columns = [UUID, ERROR, TOP_FIELD, REASON, SENDER, RECIPIENT, SUBJECT, TIME, SUPPRESSED_BY, "suppressed_rule"]
        columns += [VERDICT, "verdict_reason", "verdict_note", "verdict_analyst", "verdict_at", "position"]
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
        frame["verdict_at"] = pd.to_datetime(frame["verdict_at"], utc=True)
        frame[SUPPRESSED_BY] = frame[SUPPRESSED_BY].astype("Int64")
        frame[ERROR] = frame[ERROR].astype(float)
        return frame

    # -- verdicts ------------------------------------------------------------------------

    def set_verdicts(
        self,
        run_id: int,
        uuids: Iterable[str],
        verdict: str,
        *,
        reason: str = "",
        note: str = "",
        analyst: str | None = None,
    ) -> int:
        """Give every listed message of a run the same verdict; returns how many rows changed.

        All or nothing: a UUID not among the run's stored rows writes nothing. Each changed row
        gets an audit entry (old → new); setting what is already there changes nothing.
        """
        if verdict not in VERDICTS:
            raise DataError(f"Unknown verdict {verdict!r}: expected one of {', '.join(VERDICTS)}.")
        wanted = list(dict.fromkeys(str(u) for u in uuids))
        if not wanted:
            raise DataError("No UUIDs given: name at least one flagged message of the run.")
        analyst = self._who(analyst)
        new = {"verdict": verdict, "reason": reason, "note": note}

        def work(session: Session) -> int:
            self._get_run(session, run_id)
            rows: list[FlaggedRow] = []
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                # Row locks (PostgreSQL) in id order: two analysts on one run queue, never deadlock,
                # and each sees the other's verdict as "old".
                query = (
                    select(FlaggedRow)
                    .where(FlaggedRow.run_id == int(run_id), FlaggedRow.uuid.in_(chunk))
                    .order_by(FlaggedRow.id)
                    .with_for_update()
                )
                rows += session.scalars(query)
            missing = sorted(set(wanted) - {row.uuid for row in rows})
            if missing:
                shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
                raise DataError(
                    f"Not in run {run_id}'s flagged rows: {shown}. Nothing was written; "
                    f"`python -m core export {run_id} --format csv` lists them."
                )
            now = utcnow()
            changed = 0
            for row in rows:
                old = {"verdict": row.verdict, "reason": row.verdict_reason, "note": row.verdict_note}
                if old == new:
                    continue
                row.verdict, row.verdict_reason, row.verdict_note = verdict, reason, note
                row.verdict_analyst, row.verdict_at = analyst, now
                self._audit(session, analyst, "verdict", "flagged_row", f"{run_id}/{row.uuid}", run_id, old, new)
                changed += 1
            return changed

        return self._write(work, "verdicts")

    def verdicts_by_uuid(self) -> dict[str, str]:
        """Each message's latest verdict over all runs."""

        def work(session: Session) -> dict[str, str]:
            query = (
                select(FlaggedRow.uuid, FlaggedRow.verdict)
                .where(FlaggedRow.verdict.is_not(None))
                .order_by(FlaggedRow.verdict_at, FlaggedRow.id)
            )
            return dict(session.execute(query).tuples().all())

        return self._read(work)

    def verdicts_by_sender(self) -> dict[str, str]:
        """Sender address → ``confirmed`` if any of its mail was confirmed, else ``benign`` if any was benign."""

        def work(session: Session):
            query = select(FlaggedRow.sender, FlaggedRow.verdict).where(FlaggedRow.verdict.in_(("confirmed", "benign")))
            return session.execute(query).tuples().all()

        pairs = pd.DataFrame(self._read(work), columns=["sender", "verdict"])
        if pairs.empty:
            return {}
        pairs["address"] = sender_address(pairs["sender"])
        pairs = pairs[pairs["address"] != ""]
        confirmed = set(pairs.loc[pairs["verdict"] == "confirmed", "address"])
        return {a: ("confirmed" if a in confirmed else "benign") for a in pairs["address"]}

    # -- allow-list rules ----------------------------------------------------------------

    def add_rule(
        self,
        kind: str,
        value: str,
        recipient: str = "",
        *,
        expires: date | str | None = None,
        note: str = "",
        analyst: str | None = None,
        apply_to_past: bool = False,
    ) -> RuleInfo:
        """Add an allow-list rule (checked first: nothing is written for a malformed one).

        ``apply_to_past``: also suppress matching rows of every recorded run, in the same transaction.
        """
        value, recipient = check_rule(kind, value, recipient)
        expires = check_expiry(expires)
        analyst = self._who(analyst)

        def work(session: Session) -> RuleInfo:
            rule = Rule(
                kind=kind,
                value=value,
                recipient=recipient,
                expires=expires,
                note=note,
                created=utcnow(),
                created_by=analyst,
                removed_by="",
            )
            session.add(rule)
            session.flush()
            state = {"kind": kind, "value": value, "recipient": recipient, "expires": expires, "note": note}
            self._audit(session, analyst, "rule.add", "rule", rule.id, new=state)
            if apply_to_past:
                self._reapply(session, [rule], None, analyst)
            return _rule_info(rule, today())

        return self._write(work, "rules")

    def rules(self, *, include_removed: bool = False) -> list[RuleInfo]:
        """Rules by id; expired ones included (state ``expired``), removed ones on request."""

        def work(session: Session) -> list[RuleInfo]:
            query = select(Rule).order_by(Rule.id)
            if not include_removed:
                query = query.where(Rule.removed_at.is_(None))
            day = today()
            return [_rule_info(rule, day) for rule in session.scalars(query)]

        return self._read(work)

    def active_rules(self, on: date | None = None) -> list[RuleSpec]:
        day = on or today()
        return [rule.spec for rule in self.rules() if rule.expires is None or rule.expires >= day]

    def remove_rule(self, rule_id: int, *, analyst: str | None = None) -> RuleInfo:
        """Take a rule off the list (kept, marked removed, audited). Rows it suppressed stay so."""
        analyst = self._who(analyst)

        def work(session: Session) -> RuleInfo:
            rule = session.scalars(select(Rule).where(Rule.id == int(rule_id)).with_for_update()).first()
            if rule is None or rule.removed_at is not None:
                state = "was already removed" if rule is not None else "does not exist"
                raise DataError(f"Rule {rule_id} {state}; `python -m core rules list` shows the rules.")
            rule.removed_at, rule.removed_by = utcnow(), analyst
            self._audit(session, analyst, "rule.remove", "rule", rule.id, old=rule.label, new="removed")
            return _rule_info(rule, today())

        return self._write(work, "rules")

    def apply_rules(self, scores: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """``scores`` with ``suppressed_by`` (the active rule matching each row, else empty) and
        ``is_anomaly`` cleared on suppressed rows (and set from ``threshold`` when given)."""
        from core.workspace.feedback import apply_rules

        return apply_rules(scores, self.active_rules(), threshold)

    def reapply_rules(self, run_id: int | None = None, *, analyst: str | None = None) -> int:
        """Suppress rows of past runs (one, or all) that today's active rules match; returns how many."""
        analyst = self._who(analyst)

        def work(session: Session) -> int:
            day = today()
            rules = [r for r in session.scalars(select(Rule).order_by(Rule.id)) if r.active_on(day)]
            return self._reapply(session, rules, run_id, analyst)

        return self._write(work, "rules")

    def _reapply(self, session: Session, rules: list[Rule], run_id: int | None, analyst: str) -> int:
        specs = [RuleSpec(r.id, r.kind, r.value, r.recipient, r.expires) for r in rules]
        query = select(FlaggedRow.id, FlaggedRow.run_id, FlaggedRow.sender, FlaggedRow.recipient, FlaggedRow.subject)
        query = query.where(FlaggedRow.suppressed_by.is_(None))
        if run_id is not None:
            self._get_run(session, run_id)
            query = query.where(FlaggedRow.run_id == int(run_id))
        columns = ["id", "run_id", SENDER, RECIPIENT, SUBJECT]
        frame = pd.DataFrame(session.execute(query).tuples().all(), columns=columns)
        if frame.empty or not specs:
            return 0
        frame[SUPPRESSED_BY] = match_rules(frame, specs)
        hits = frame[frame[SUPPRESSED_BY].notna()]
        for rule_id, group in hits.groupby(SUPPRESSED_BY):
            ids = group["id"].astype(int).tolist()
            for start in range(0, len(ids), _CHUNK):
                session.execute(
                    update(FlaggedRow)
                    .where(FlaggedRow.id.in_(ids[start : start + _CHUNK]))
                    .values(suppressed_by=int(rule_id))
                )
        for run, count in hits.groupby("run_id").size().items():
            run_row = self._get_run(session, int(run), lock=True)
            run_row.n_suppressed += int(count)
            run_row.n_flagged -= int(count)
            rule_ids = sorted(int(r) for r in hits.loc[hits["run_id"] == run, SUPPRESSED_BY].unique())
            self._audit(
                session,
                analyst,
                "rule.apply",
                "run",
                int(run),
                int(run),
                old={"flagged": run_row.n_flagged + int(count)},
                new={"flagged": run_row.n_flagged, "suppressed_by_rules": rule_ids},
            )
        return len(hits)

    # -- known events --------------------------------------------------------------------

    def add_event(
        self,
        starts: datetime | date | str,
        ends: datetime | date | str,
        note: str = "",
        *,
        analyst: str | None = None,
    ) -> EventInfo:
        """Declare a known event: rows timed in ``[starts, ends)`` (UTC) are scored but neither
        flagged nor trained on. Times are datetimes, dates or ISO text; ``note`` is optional."""
        start, end = check_window(starts, ends)
        note = (note or "").strip()
        analyst = self._who(analyst)

        def work(session: Session) -> EventInfo:
            event = KnownEvent(starts=start, ends=end, note=note, created=utcnow(), created_by=analyst, removed_by="")
            session.add(event)
            session.flush()
            self._audit(
                session, analyst, "event.add", "event", event.id, new={"starts": start, "ends": end, "note": note}
            )
            return _event_info(event)

        return self._write(work, "events")

    def events(self, *, include_removed: bool = False) -> list[EventInfo]:
        """Known events by id; removed ones on request (state ``removed``)."""

        def work(session: Session) -> list[EventInfo]:
            query = select(KnownEvent).order_by(KnownEvent.id)
            if not include_removed:
                query = query.where(KnownEvent.removed_at.is_(None))
            return [_event_info(event) for event in session.scalars(query)]

        return self._read(work)

    def active_events(self) -> list[EventSpec]:
        return [event.spec for event in self.events()]

    def remove_event(self, event_id: int, *, analyst: str | None = None) -> EventInfo:
        """Take an event off the list (kept, marked removed, audited): its window stops matching.
        Runs recorded while it was active keep their counts."""
        analyst = self._who(analyst)

        def work(session: Session) -> EventInfo:
            query = select(KnownEvent).where(KnownEvent.id == int(event_id)).with_for_update()
            event = session.scalars(query).first()
            if event is None or event.removed_at is not None:
                state = "was already removed" if event is not None else "does not exist"
                raise DataError(f"Known event {event_id} {state}; `python -m core events list` shows them.")
            event.removed_at, event.removed_by = utcnow(), analyst
            self._audit(session, analyst, "event.remove", "event", event.id, old=event.label, new="removed")
            return _event_info(event)

        return self._write(work, "events")

    def apply_events(self, scores: pd.DataFrame, events: list[EventSpec] | None = None) -> pd.DataFrame:
        """``scores`` with ``known_event`` (the active event whose window holds each row's
        ``Time Processed``, else empty) and ``is_anomaly`` cleared on those rows."""
        from core.workspace.feedback import apply_events

        return apply_events(scores, self.active_events() if events is None else events)

    # -- users and roles -----------------------------------------------------------------

    def user_role(self, email: str) -> str | None:
        """``email``'s role, or ``None`` if they never signed in nor were given one."""
        email = normalize_email(email)
        return self._read(lambda session: session.scalars(select(User.role).where(User.email == email)).first())

    def role(self) -> str:
        """The actor's role; ``admin`` without an actor (the one local analyst may do everything)."""
        if self.actor is None:
            return "admin"
        return self._read(lambda session: self._role(session, self.actor))

    def require(self, action: str) -> None:
        """Raise :class:`core.access.PermissionDenied` unless the actor may do ``action``
        (for actions outside the database, e.g. deleting a model bundle)."""
        require(self.role(), action)

    @staticmethod
    def _lock_users(session: Session) -> None:
        # "First user becomes admin" must see every concurrent first sign-in: SQLite's writes are
        # already serialized (BEGIN IMMEDIATE); PostgreSQL needs the table locked against inserts.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))

    def ensure_user(self, email: str) -> str:
        """Record a signed-in user and return their role: the first user of a workspace becomes
        admin, anyone else starts as viewer until an admin gives them a role. Audited when new."""
        email = normalize_email(email)

        def work(session: Session) -> str:
            self._lock_users(session)
            user = session.scalars(select(User).where(User.email == email)).first()
            if user is not None:
                return user.role
            first = session.scalar(select(func.count()).select_from(User)) == 0
            role = "admin" if first else "viewer"
            now = utcnow()
            session.add(User(email=email, role=role, created=now, updated=now, updated_by=""))
            why = "first user of the workspace" if first else "first sign-in"
            self._audit(session, email, "role", "user", email, old={"role": None}, new={"role": role, "why": why})
            return role

        return self._write(work)

    def set_role(self, email: str, role: str, *, by: str) -> UserInfo:
        """Give ``email`` the ``role`` (viewer, analyst, admin); ``by`` must be an admin. Someone
        who never signed in is added with that role. The last admin cannot step down. Audited old → new."""
        email, by, role = normalize_email(email), normalize_email(by), check_role(role)

        if self.actor is not None and by != self.actor:
            raise DataError(f"This workspace acts for {self.actor}; it cannot change roles as {by}.")

        def work(session: Session) -> UserInfo:
            self._lock_users(session)
            require(self._role(session, by), "roles")
            user = session.scalars(select(User).where(User.email == email)).first()
            old = user.role if user is not None else None
            if old == role:
                return _user_info(user)
            if old == "admin":
                admins = session.scalar(select(func.count()).select_from(User).where(User.role == "admin"))
                if admins <= 1:
                    raise DataError(f"{email} is the workspace's only admin; give someone else the admin role first.")
            now = utcnow()
            if user is None:
                user = User(email=email, role=role, created=now, updated=now, updated_by=by)
                session.add(user)
            user.role, user.updated, user.updated_by = role, now, by
            self._audit(session, by, "role", "user", email, old={"role": old}, new={"role": role})
            session.flush()
            return _user_info(user)

        return self._write(work)

    def users(self) -> list[UserInfo]:
        """Everyone with a role, by e-mail."""
        return self._read(lambda session: [_user_info(u) for u in session.scalars(select(User).order_by(User.email))])

    # -- audit ---------------------------------------------------------------------------

    def audit(self, run_id: int | None = None) -> list[AuditInfo]:
        """The trail, oldest first; a run's own entries (recording, verdicts, rules applied) when given."""

        def work(session: Session) -> list[AuditInfo]:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if run_id is not None:
                query = query.where(AuditEntry.run_id == int(run_id))
            entries = [_audit_info(entry) for entry in session.scalars(query)]
            if run_id is not None and not entries:  # a deleted run's entries stay readable
                self._get_run(session, run_id)
            return entries

        return self._read(work)


def open_workspace(db_url: str | None = None, artifacts_dir: str | os.PathLike | None = None, **options) -> Workspace:
    """See :meth:`Workspace.open`."""
    return Workspace.open(db_url, artifacts_dir, **options)
