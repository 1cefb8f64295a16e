"""What analysts decided, fed back: training rows, thresholds, and marks on a new scoring.

Plain functions over DataFrames and ``{uuid: verdict}`` / ``{sender: verdict}`` maps, so the
CLI, the dashboard and tests use them alike (:class:`~core.workspace.Workspace` supplies the maps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from core.schema import SENDER, UUID
from core.workspace.events import KNOWN_EVENT, EventSpec, match_events
from core.workspace.rules import SUPPRESSED_BY, RuleSpec, match_rules, sender_address, today

ERROR = "reconstruction_error"
IS_ANOMALY = "is_anomaly"
VERDICT = "verdict"
CARRY_OVER = "carry_over"
KNOWN_CONFIRMED = "known_confirmed_sender"
KNOWN_BENIGN = "known_benign_sender"


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingSelection:
    """Training rows with verdicts and known events applied.

    ``frame``: the rows to train on (confirmed ones and rows inside a known event left out).
    ``keep``: boolean array over ``frame``'s rows, True for benign-verdict rows the screening
    fit must not trim (``AutoencoderDetector.fit(frame, always_keep=keep)``).
    ``n_in_events_left_out`` is None when no events were consulted.
    """

    frame: pd.DataFrame
    keep: np.ndarray
    n_confirmed_left_out: int
    n_benign_kept: int
    n_in_events_left_out: int | None = None

    def summary(self) -> str:
        return selection_summary(self.n_confirmed_left_out, self.n_benign_kept, self.n_in_events_left_out)


def selection_summary(n_confirmed_left_out: int, n_benign_kept: int, n_in_events_left_out: int | None = None) -> str:
    """What ``train`` prints about the rows verdicts and known events took out or protected."""
    line = f"verdicts: left out {n_confirmed_left_out:,} confirmed, kept {n_benign_kept:,} benign (never trimmed)"
    if n_in_events_left_out is not None:
        line += f"; known events: left out {n_in_events_left_out:,} rows"
    return line


def training_selection(
    frame: pd.DataFrame, verdicts: dict[str, str], events: list[EventSpec] | None = None
) -> TrainingSelection:
    """Leave out messages confirmed bad and, given ``events`` (the active known events), rows
    inside their windows (a marketing blast is not normal mail to learn); mark benign ones to
    keep even if screening would trim them."""
    verdict = frame[UUID].astype(str).map(verdicts)
    confirmed = (verdict == "confirmed").to_numpy()
    in_event = np.zeros(len(frame), dtype=bool)
    if events is not None:
        in_event = match_events(frame, events).notna().to_numpy(dtype=bool) & ~confirmed
    left_out = confirmed | in_event
    kept = frame[~left_out]
    keep = (verdict[~left_out] == "benign").to_numpy()
    n_in_events = int(in_event.sum()) if events is not None else None
    return TrainingSelection(kept, keep, int(confirmed.sum()), int(keep.sum()), n_in_events)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class VerdictStats:
    """How a threshold does on the reviewed rows of a run."""

    threshold: float
    reviewed: int  # rows above the threshold with a confirmed or benign verdict
    confirmed: int
    benign: int

    @property
    def precision(self) -> float | None:
        """Confirmed share among reviewed rows above the threshold (None with none reviewed)."""
        return self.confirmed / self.reviewed if self.reviewed else None


def precision_at(flagged: pd.DataFrame, threshold: float) -> VerdictStats:
    """Precision among reviewed rows (``confirmed`` vs ``benign``; ``review`` is undecided) above ``threshold``."""
    above = flagged[flagged[ERROR].to_numpy(dtype=float) > threshold]
    confirmed = int((above[VERDICT] == "confirmed").sum())
    benign = int((above[VERDICT] == "benign").sum())
    return VerdictStats(float(threshold), confirmed + benign, confirmed, benign)


def false_positives_by_reason(flagged: pd.DataFrame, by: str = "reason") -> pd.Series:
    """Benign verdicts counted per ``reason`` (or ``top_field``), most first."""
    benign = flagged[flagged[VERDICT] == "benign"]
    return benign[by].fillna("").value_counts().rename("false_positives")


def threshold_for_budget(errors, budget: int) -> float:
    """The threshold that flags at most ``budget`` rows of these errors (ties may flag fewer)."""
    values = np.asarray(errors, dtype=float)
    values = np.sort(values[np.isfinite(values)])[::-1]
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}.")
    if len(values) <= budget:
        return float(np.nextafter(values[-1], -np.inf)) if len(values) else 0.0
    return float(values[budget])  # the (budget+1)-th highest: flagging means strictly above it


def threshold_for_precision(flagged: pd.DataFrame, target: float) -> float | None:
    """The lowest threshold at which reviewed rows above it reach ``target`` precision, or None.

    Only reviewed rows count, so the answer is as good as the review: it can move the threshold
    up among the reviewed rows, not below the run's own threshold.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target precision must be in (0, 1], got {target}.")
    reviewed = flagged[flagged[VERDICT].isin(("confirmed", "benign"))]
    if reviewed.empty:
        return None
    order = reviewed.sort_values(ERROR, ascending=False, kind="stable")
    errors = order[ERROR].to_numpy(dtype=float)
    hits = np.cumsum((order[VERDICT] == "confirmed").to_numpy())
    precision = hits / np.arange(1, len(order) + 1)
    # Threshold just below the k-th highest reviewed error flags the top k reviewed rows;
    # only cut between distinct errors (equal errors fall on the same side of any threshold).
    distinct = np.append(errors[1:] < errors[:-1], True)
    good = np.flatnonzero((precision >= target) & distinct)
    if not len(good):
        return None
    k = good[-1]
    return float(np.nextafter(errors[k], -np.inf))


# --------------------------------------------------------------------------- marks on a new scoring


def apply_rules(
    scores: pd.DataFrame, rules: list[RuleSpec], threshold: float | None = None, *, on: date | None = None
) -> pd.DataFrame:
    """``scores`` with ``suppressed_by`` (the active rule matching each row on day ``on``, else
    empty) and ``is_anomaly`` cleared on suppressed rows (and set from ``threshold`` when given)."""
    suppressed = match_rules(scores, rules, on=on)
    out = scores.assign(**{SUPPRESSED_BY: suppressed})
    if threshold is not None:
        out[IS_ANOMALY] = out[ERROR].to_numpy(dtype=float) > threshold
    if IS_ANOMALY in out:
        out[IS_ANOMALY] = out[IS_ANOMALY].to_numpy(dtype=bool) & suppressed.isna().to_numpy()
    return out


def apply_events(scores: pd.DataFrame, events: list[EventSpec]) -> pd.DataFrame:
    """``scores`` with ``known_event`` (the event whose window holds each row's ``Time Processed``,
    else empty) and ``is_anomaly`` cleared on those rows."""
    matched = match_events(scores, events)
    out = scores.assign(**{KNOWN_EVENT: matched})
    if IS_ANOMALY in out:
        out[IS_ANOMALY] = out[IS_ANOMALY].to_numpy(dtype=bool) & matched.isna().to_numpy()
    return out


# The columns ScoringMarks.apply adds, in the order it adds them (the detect CSV's last four).
MARK_COLUMNS = (SUPPRESSED_BY, KNOWN_EVENT, VERDICT, CARRY_OVER)


@dataclass(frozen=True)
class ScoringMarks:
    """What the workspace says about a new scoring, detached from the database: the active
    allow-list rules (judged on ``day``), the active known events and earlier verdicts by UUID
    and by sender. Small and picklable: the local ``detect`` applies it to its scores, the
    Spark engine reads it once on the driver and applies it to every Arrow batch."""

    rules: tuple[RuleSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    uuid_verdicts: dict[str, str] = field(default_factory=dict)
    sender_verdicts: dict[str, str] = field(default_factory=dict)
    day: date = field(default_factory=today)

    def apply(self, scores: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """``scores`` with the ``MARK_COLUMNS`` added and ``is_anomaly`` cleared on suppressed
        rows and rows inside a known event (set from ``threshold`` first, when given)."""
        scores = apply_rules(scores, list(self.rules), threshold, on=self.day)
        scores = apply_events(scores, list(self.events))
        return carry_over(scores, self.uuid_verdicts, self.sender_verdicts)


def scoring_marks(workspace) -> ScoringMarks:
    """The ``ScoringMarks`` of a :class:`~core.workspace.Workspace` as of now."""
    return ScoringMarks(
        tuple(workspace.active_rules()),
        tuple(workspace.active_events()),
        workspace.verdicts_by_uuid(),
        workspace.verdicts_by_sender(),
    )


# --------------------------------------------------------------------------- carry-over


def carry_over(scores: pd.DataFrame, uuid_verdicts: dict[str, str], sender_verdicts: dict[str, str]) -> pd.DataFrame:
    """``scores`` with ``verdict`` (the message's own earlier verdict, by UUID) and ``carry_over``
    (``known_confirmed_sender`` / ``known_benign_sender`` from verdicts on the sender's mail)."""
    if not uuid_verdicts and not sender_verdicts:  # no verdicts yet: a million UUIDs not looked up for nothing
        blank = pd.Series("", index=scores.index, dtype="str")
        return scores.assign(**{VERDICT: blank, CARRY_OVER: blank})
    verdict = scores[UUID].astype(str).map(uuid_verdicts).fillna("")
    if sender_verdicts:
        sender = sender_address(scores[SENDER]).map(sender_verdicts)
        mark = sender.map({"confirmed": KNOWN_CONFIRMED, "benign": KNOWN_BENIGN}).fillna("")
    else:  # no verdicts yet: no sender to look up (a million rows' addresses saved)
        mark = pd.Series("", index=scores.index, dtype=object)
    # A message's own verdict says more than its sender's record.
    mark = mark.mask(verdict == "confirmed", KNOWN_CONFIRMED).mask(verdict == "benign", KNOWN_BENIGN)
    return scores.assign(**{VERDICT: verdict.astype(str), CARRY_OVER: mark.astype(str)})


def carry_over_order(scores: pd.DataFrame) -> pd.DataFrame:
    """Highest error first, known-confirmed senders ahead of everything, known-benign ones last."""
    rank = scores[CARRY_OVER].map({KNOWN_CONFIRMED: 0, KNOWN_BENIGN: 2}).fillna(1)
    return (
        scores.assign(_rank=rank.to_numpy(), _error=-scores[ERROR].to_numpy(dtype=float))
        .sort_values(["_rank", "_error"], kind="stable")
        .drop(columns=["_rank", "_error"])
    )
