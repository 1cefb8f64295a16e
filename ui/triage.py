"""Triage logic for the dashboard without Streamlit: allow-list suppression over a scored log at a
moving threshold, carry-over marks on shown rows, and the tables the Review page lists.

Suppression is computed once per (scores, active rules) as a :class:`Suppression`; a threshold
change is then a binary search plus a mask over the rows above it, like ``ThresholdView``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.scoring import ERROR, ThresholdView
from core.workspace.feedback import CARRY_OVER, KNOWN_BENIGN, KNOWN_CONFIRMED, carry_over, carry_over_order
from core.workspace.rules import SUPPRESSED_BY, RuleSpec, match_rules, sender_address
from ui.detect import TABLE_COLUMNS

VERDICT = "verdict"
STATE = "state"  # one readable column on Detect/Explore: suppressed by rule N / verdict / known sender
REASON_CATEGORIES = ("", "phishing", "spam", "malware", "newsletter", "internal", "partner", "other")
CARRY_TEXT = {KNOWN_CONFIRMED: "known bad sender", KNOWN_BENIGN: "known good sender"}


def rules_signature(rules: list[RuleSpec]) -> tuple:
    """A hashable fingerprint of the active rules: a cache key, and part of a run's identity."""
    return tuple((r.id, r.kind, r.value, r.recipient, str(r.expires or "")) for r in rules)


@dataclass(frozen=True)
class Suppression:
    """Which scored rows an active allow-list rule matches (``rule``: rule id or 0 per row)."""

    rule: np.ndarray  # int64 per row of the scores, 0 = not suppressed
    suppressed_errors: np.ndarray  # errors of suppressed rows, ascending

    @classmethod
    def of(cls, scores: pd.DataFrame, rules: list[RuleSpec]) -> Suppression:
        matched = match_rules(scores, rules) if rules else pd.Series(pd.NA, index=scores.index, dtype="Int64")
        rule = matched.fillna(0).to_numpy(dtype=np.int64)
        errors = scores[ERROR].to_numpy(dtype=float)[rule > 0]
        return cls(rule, np.sort(errors[np.isfinite(errors)]))

    def count_above(self, threshold: float) -> int:
        """Suppressed rows with an error above ``threshold`` (scored, not flagged)."""
        return int(len(self.suppressed_errors) - np.searchsorted(self.suppressed_errors, threshold, side="right"))

    def flagged_count(self, view: ThresholdView, threshold: float) -> int:
        return view.flagged_count(threshold) - self.count_above(threshold)

    def positions(self, view: ThresholdView, threshold: float, *, suppressed: bool = False, limit=None) -> np.ndarray:
        """Row positions above ``threshold``, highest error first: the flagged ones (default) or
        the suppressed ones."""
        above = view.flagged_positions(threshold)
        keep = (self.rule[above] > 0) if suppressed else (self.rule[above] == 0)
        chosen = above[keep]
        return chosen if limit is None else chosen[:limit]

    def column(self) -> pd.Series:
        """``suppressed_by`` as the workspace stores it (nullable rule id)."""
        return pd.Series(self.rule, dtype="Int64").mask(self.rule == 0)

    def apply(self, scores: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """``scores`` with ``suppressed_by`` (and ``is_anomaly`` at ``threshold`` when given, false on
        suppressed rows), as ``Workspace.apply_rules`` returns it."""
        out = scores.assign(**{SUPPRESSED_BY: self.column().set_axis(scores.index)})
        if threshold is not None:
            out["is_anomaly"] = (out[ERROR].to_numpy(dtype=float) > threshold) & (self.rule == 0)
        return out


def state_text(verdict: str, carry: str, suppressed_by=None, rule_label: str = "") -> str:
    """One short phrase for a row's triage state (suppression first: it decides whether it is flagged)."""
    if suppressed_by is not None and not pd.isna(suppressed_by) and int(suppressed_by):
        return f"suppressed by rule {int(suppressed_by)}" + (f" ({rule_label})" if rule_label else "")
    if verdict:
        return verdict
    return CARRY_TEXT.get(carry, "")


def marked_table(
    scores: pd.DataFrame,
    positions: np.ndarray,
    uuid_verdicts: dict[str, str],
    sender_verdicts: dict[str, str],
    suppression: Suppression | None = None,
    *,
    order: bool = True,
) -> pd.DataFrame:
    """Rows at ``positions`` for display (Detect's columns) with ``verdict`` and ``state``; index =
    row position. ``order``: known-bad senders first, known-good last (else as given)."""
    rows = carry_over(scores.iloc[positions], uuid_verdicts, sender_verdicts)
    if order:
        rows = carry_over_order(rows)
    table = rows[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    index = scores.index.get_indexer(rows.index)  # back to row positions (the selection's key)
    table.index = index
    rule = suppression.rule[index] if suppression is not None else np.zeros(len(rows), dtype=np.int64)
    table[VERDICT] = rows[VERDICT].to_numpy()
    table[STATE] = [state_text(v, c, r) for v, c, r in zip(rows[VERDICT], rows[CARRY_OVER], rule.tolist(), strict=True)]
    if suppression is not None and (rule > 0).any():
        table[SUPPRESSED_BY] = pd.array(rule, dtype="Int64")
        table.loc[rule == 0, SUPPRESSED_BY] = pd.NA
    # The triage state next to the UUID, where it is seen without scrolling the table sideways.
    return table[["UUID", STATE, *[c for c in table.columns if c not in ("UUID", STATE)]]]


def run_identity(model_name: str, model_checksum: str, data_name: str, data_id: str, threshold: float, rules) -> str:
    """What makes two dashboard recordings the same run: model, data, threshold and the active
    rules (a new rule changes what is flagged, so scoring again under it is a new run)."""
    return repr((model_name, model_checksum, data_name, data_id, round(float(threshold), 12), rules))


# --------------------------------------------------------------------------- Review page tables


def runs_table(runs) -> pd.DataFrame:
    """Recorded runs (``Workspace.runs``, newest first) as the Review page lists them."""
    return pd.DataFrame(
        {
            "id": [r.id for r in runs],
            "created": [pd.Timestamp(r.created) for r in runs],
            "model": [r.model_name for r in runs],
            "data": [r.data_name for r in runs],
            "rows": [r.rows_total for r in runs],
            "threshold": [r.threshold for r in runs],
            "flagged": [r.n_flagged for r in runs],
            "suppressed": [r.n_suppressed for r in runs],
            "reviewed": [r.n_reviewed for r in runs],
            "by": [f"{r.analyst} ({r.origin})" if r.origin else r.analyst for r in runs],
        }
    )


def run_label(run) -> str:
    created = pd.Timestamp(run.created).strftime("%Y-%m-%d %H:%M")
    return f"run {run.id} · {created} · {run.model_name} on {run.data_name} · {run.n_flagged:,} flagged"


QUEUE_COLUMNS = {
    VERDICT: "verdict",
    "verdict_reason": "category",
    "verdict_note": "note",
    UUID: "UUID",
    SENDER: "Sender",
    RECIPIENT: "Recipient",
    SUBJECT: "Subject",
    TIME: "Time",
    ERROR: "error",
    "reason": "reason",
    "suppressed_rule": "suppressed by",
    "verdict_analyst": "analyst",
}


def queue_table(flagged: pd.DataFrame) -> pd.DataFrame:
    """A run's stored rows (``Workspace.flagged``) as the review queue shows them."""
    table = flagged[list(QUEUE_COLUMNS)].rename(columns=QUEUE_COLUMNS)
    rules = zip(flagged[SUPPRESSED_BY], table["suppressed by"], strict=True)
    table["suppressed by"] = [f"rule {int(r)}: {label}" if not pd.isna(r) else "" for r, label in rules]
    return table.reset_index(drop=True)


def audit_table(entries) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "at": [pd.Timestamp(e.at) for e in entries],
            "analyst": [e.analyst for e in entries],
            "action": [e.action for e in entries],
            "what": [f"{e.entity} {e.entity_id}" for e in entries],
            "old": [e.old for e in entries],
            "new": [e.new for e in entries],
        }
    )


def rules_table(rules) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r.id for r in rules],
            "rule": [r.label for r in rules],
            "state": [r.state for r in rules],
            "expires": [str(r.expires) if r.expires else "" for r in rules],
            "note": [r.note for r in rules],
            "by": [r.created_by for r in rules],
            "created": [pd.Timestamp(r.created) for r in rules],
        }
    )


def sender_domain(sender: str) -> str:
    """The domain of a Sender cell (display name and brackets allowed), or '' when it has none."""
    address = sender_address(pd.Series([sender])).iloc[0]
    return address.rsplit("@", 1)[1] if "@" in address else ""


def sender_only(sender: str) -> str:
    return sender_address(pd.Series([sender])).iloc[0]


def row_states(
    scores: pd.DataFrame,
    positions: np.ndarray,
    uuid_verdicts: dict[str, str],
    sender_verdicts: dict[str, str],
    suppression: Suppression,
) -> list[str]:
    """:func:`state_text` of the rows at ``positions`` (in that order), e.g. for map hover text."""
    rows = carry_over(scores.iloc[positions][[UUID, SENDER]], uuid_verdicts, sender_verdicts)
    rules = suppression.rule[positions].tolist()
    return [state_text(v, c, r) for v, c, r in zip(rows[VERDICT], rows[CARRY_OVER], rules, strict=True)]
