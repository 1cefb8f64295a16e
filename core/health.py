"""Model health: does the log being scored still look like the mail the model learned?

A model trained on last month's mail judges this week's by last month's habits. When the mail
system changes (a new marketing platform, a merger, another gateway or export format), the
model either flags thousands of harmless rows or quietly misses things. This module says so,
in email terms, before the analyst loses trust in the flagged queue.

At training time :func:`build_profile` summarises the held-out test rows — new mail as the
model first met it, scored against the training counts — feature by feature: a histogram on
bins cut at the reference's own quantiles (or its few distinct values), its mean, and the
test-error histogram. The profile is a small JSON object saved in the bundle; the training
rows themselves are not kept.

At scoring time a :class:`HealthMonitor` takes each chunk's described features and errors
(scoring computes them anyway) and :meth:`HealthMonitor.report` compares:

- per feature, a chi-squared test of homogeneity between the reference and the new histogram,
  with the Benjamini–Hochberg correction for testing every feature at once; a feature
  *drifted* when its adjusted p-value is below ``alpha`` **and** its Jensen–Shannon distance
  (base 2, 0 = same mix, 1 = disjoint) is at least ``min_distance`` — on a million rows every
  difference is significant, so significance alone would cry wolf;
- the share of features that drifted, the flagged share against the expected one
  (100 − percentile), and the error histogram against the training test errors.

The verdict is ``fits``, ``drifting`` (review) or ``retrain``, with the three largest shifts
in words ("first contacts: 64% of mail now, 19% in training").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT

VERDICTS = ("fits", "drifting", "retrain")
VERDICT_LABELS = {"fits": "fits", "drifting": "drifting — review", "retrain": "retrain advised"}
PROFILE_VERSION = 1
# A feature with at most this many distinct reference values is binned by value.
_MAX_CATEGORIES = 12
_QUANTILES = np.linspace(0, 1, 21)[1:-1]  # 19 inner cuts: 20 bins of ~5% each
_ERROR_BINS = 40
# Below this many scored rows a verdict would be noise: the report says so and says "fits".
MIN_ROWS = 50

# Features with an email-terms reading: (label, how the value reads).
# "share": a 0/1 flag, reported as a share of mail; "mean": an average; "hour": time of day.
_EMAIL_TERMS: dict[str, tuple[str, str]] = {
    "sender_domain_new": ("mail from sender domains never seen in training", "share"),
    "sender_new": ("first contacts (sender never seen in training)", "share"),
    "subject_new": ("new subjects", "share"),
    "recipient_new": ("mail to recipients never seen in training", "share"),
    "cold_contact": ("cold contacts (unknown sender opening a thread)", "share"),
    "recipient_n": ("recipients per mail", "mean"),
    "hour": ("hour-of-day mix", "hour"),
    "subject_length": ("subject length (characters)", "mean"),
    "burst_5min": ("mails per sender within 5 minutes", "mean"),
    "fanout_1h": ("recipients per sender per hour", "mean"),
    "subject_campaign": ("sender domains sharing a subject", "mean"),
    "sender_hour_share": ("mail at its sender's usual hours", "mean"),
    "recipient_external_share": ("share of external recipients", "mean"),
}
EMPTY_CHECKED_FIELDS = (SENDER, RECIPIENT, SUBJECT)
_ADDRESS = r"([^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+)"
# A sender never seen in training that sends at least this share of the log is a new bulk sender.
BULK_SHARE = 0.05
# An email-terms finding (empty fields, new domains, a new bulk sender, the hour mix) whose
# distance reaches this asks for review even when the flagged share looks normal.
FINDING_DISTANCE = 0.3
_MAX_TRACKED_SENDERS = 50_000

FEATURE_TABLE_COLUMNS = ["feature", "field", "distance", "p_value", "p_adjusted", "drifted"]
FEATURE_TABLE_COLUMNS += ["error_increase", "training", "now"]
# The indicators always shown in the email-terms table, in this order, when the model has them.
INDICATORS = ("sender_domain_new", "sender_new", "subject_new", "recipient_n", "hour")


# --------------------------------------------------------------------------- the profile


@dataclass
class FeatureProfile:
    """One feature's reference distribution: bin cuts (or values), shares per bin, mean."""

    name: str
    field: str
    categorical: bool
    cuts: list[float]
    shares: list[float]
    mean: float

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each of this profile's bins (NaN values are skipped)."""
        values = values[np.isfinite(values)]
        cuts = np.asarray(self.cuts, dtype=float)
        if self.categorical:
            # One bin per reference value, a last one for anything else.
            at = np.searchsorted(cuts, values)
            at = np.minimum(at, len(cuts) - 1) if len(cuts) else np.zeros(len(values), dtype=int)
            known = len(cuts) > 0 and np.isclose(cuts[at], values, rtol=0, atol=1e-9)
            bins = np.where(known, at, len(cuts))
            return np.bincount(bins, minlength=len(cuts) + 1)[: len(cuts) + 1]
        return np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)


@dataclass
class HealthProfile:
    """What the health check needs from training: per-feature reference bins, test errors."""

    features: list[FeatureProfile]
    n_reference: int
    error_edges: list[float]
    error_shares: list[float]
    expected_flagged_share: float
    # Mean scaled squared error per described feature on the held-out rows (what the model
    # "pays" for each feature on normal new mail): a rise says which change hurts the model.
    error_contribution: dict[str, float] = field(default_factory=dict)
    # Share of held-out mail whose Sender / Recipient / Subject is empty.
    empty_shares: dict[str, float] = field(default_factory=dict)
    # Share of held-out mail per hour of the day (UTC), when the feature set has the hour.
    hour_shares: list[float] = field(default_factory=list)
    version: int = PROFILE_VERSION

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "n_reference": self.n_reference,
            "expected_flagged_share": self.expected_flagged_share,
            "error_edges": self.error_edges,
            "error_shares": self.error_shares,
            "features": [vars(f) for f in self.features],
            "error_contribution": self.error_contribution,
            "empty_shares": self.empty_shares,
            "hour_shares": self.hour_shares,
        }

    @classmethod
    def from_dict(cls, data: dict) -> HealthProfile:
        return cls(
            features=[FeatureProfile(**f) for f in data["features"]],
            n_reference=int(data["n_reference"]),
            error_edges=list(data["error_edges"]),
            error_shares=list(data["error_shares"]),
            expected_flagged_share=float(data["expected_flagged_share"]),
            error_contribution={k: float(v) for k, v in data.get("error_contribution", {}).items()},
            empty_shares={k: float(v) for k, v in data.get("empty_shares", {}).items()},
            hour_shares=[float(v) for v in data.get("hour_shares", [])],
            version=int(data.get("version", PROFILE_VERSION)),
        )


def _feature_profile(name: str, field: str, values: np.ndarray) -> FeatureProfile:
    values = values[np.isfinite(values)]
    distinct = np.unique(values)
    if len(distinct) <= _MAX_CATEGORIES:
        cuts = distinct
        counts = FeatureProfile(name, field, True, cuts.tolist(), [], 0.0).bin_counts(values)
        categorical = True
    else:
        cuts = np.unique(np.quantile(values, _QUANTILES))
        counts = np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)
        categorical = False
    total = max(int(counts.sum()), 1)
    return FeatureProfile(
        name=name,
        field=field,
        categorical=categorical,
        cuts=[float(c) for c in cuts],
        shares=(counts / total).tolist(),
        mean=float(values.mean()) if len(values) else 0.0,
    )


def contributions_by_source(squared: np.ndarray, sources: tuple[str, ...]) -> dict[str, float]:
    """Summed per-row squared errors of each described feature's model columns (sin/cos pairs add up)."""
    if squared is None or not len(squared):
        return {}
    totals = squared.sum(axis=0)
    out: dict[str, float] = {}
    for source, total in zip(sources, totals, strict=True):
        out[source] = out.get(source, 0.0) + float(total)
    return out


def build_profile(
    described: pd.DataFrame,
    fields: dict[str, str],
    test_errors: np.ndarray,
    percentile: float,
    *,
    squared: np.ndarray | None = None,
    sources: tuple[str, ...] = (),
    frame: pd.DataFrame | None = None,
) -> HealthProfile:
    """The reference for later health checks, from the held-out rows' described features.

    ``fields`` maps each feature to the message field it describes (Sender, Subject…);
    ``squared`` are the held-out rows' scaled squared errors per model column and ``sources``
    the described feature each column comes from; ``frame`` the held-out rows themselves
    (only their share of empty fields is kept).
    """
    errors = np.asarray(test_errors, dtype=float)
    errors = errors[np.isfinite(errors)]
    top = float(np.quantile(errors, 0.999)) if len(errors) else 1.0
    edges = np.linspace(0.0, max(top, 1e-9) * 1.5, _ERROR_BINS + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], errors, side="left"), minlength=_ERROR_BINS)
    return HealthProfile(
        features=[
            _feature_profile(name, fields.get(name, ""), described[name].to_numpy(dtype=float))
            for name in described.columns
        ],
        n_reference=len(described),
        error_edges=edges.tolist(),
        error_shares=(counts / max(len(errors), 1)).tolist(),
        expected_flagged_share=(100.0 - float(percentile)) / 100.0,
        error_contribution={
            name: total / max(len(described), 1) for name, total in contributions_by_source(squared, sources).items()
        },
        empty_shares={} if frame is None else {f: float(share) for f, share in _empty_counts(frame).items()},
        hour_shares=(_hour_counts(described["hour"]) / max(len(described), 1)).tolist() if "hour" in described else [],
    )


def _hour_counts(hours: pd.Series) -> np.ndarray:
    values = hours.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return np.bincount(np.floor(values).astype(int) % 24, minlength=24)


def _empty_counts(frame: pd.DataFrame, *, share: bool = True) -> pd.Series:
    """Per message field: how many rows (or which share) have it empty."""
    present = [f for f in EMPTY_CHECKED_FIELDS if f in frame]
    empty = pd.Series({f: int((frame[f].fillna("").astype(str).str.strip() == "").sum()) for f in present})
    return empty / max(len(frame), 1) if share else empty


def _sender_addresses(senders: pd.Series) -> pd.Series:
    return senders.fillna("").astype(str).str.extract(_ADDRESS, expand=False).fillna("").str.lower()


# --------------------------------------------------------------------------- the comparison


@dataclass
class HealthReport:
    """The comparison of one scored log with the model's training reference."""

    verdict: str
    reasons: list[str]
    features: pd.DataFrame  # feature, field, distance, p_value, p_adjusted, drifted, training, now
    indicators: pd.DataFrame  # indicator, training, now, distance
    drift_share: float
    flagged_share: float
    expected_flagged_share: float
    rows: int
    error_edges: np.ndarray
    training_error_shares: np.ndarray
    error_shares: np.ndarray
    hour_training: np.ndarray | None = None
    hour_now: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    def summary(self) -> str:
        """One line: the verdict and its first reason."""
        first = f": {self.reasons[0]}" if self.reasons else ""
        return f"health: {self.label} ({self.drift_share:.0%} of features drifted){first}"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "label": self.label,
            "reasons": self.reasons,
            "notes": self.notes,
            "rows": self.rows,
            "drift_share": self.drift_share,
            "flagged_share": self.flagged_share,
            "expected_flagged_share": self.expected_flagged_share,
            "indicators": _records(self.indicators),
            "features": _records(self.features),
        }


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    return float(np.nan_to_num(jensenshannon(p, q, base=2)))


def _homogeneity_p_value(reference_counts: np.ndarray, counts: np.ndarray) -> float:
    """Chi-squared test that both samples come from one distribution over these bins."""
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


class HealthMonitor:
    """Accumulates a scored log chunk by chunk; :meth:`report` compares it with the profile.

    Parameters
    ----------
    profile : HealthProfile
    alpha : float, default=0.01
        False discovery rate over all features (Benjamini–Hochberg).
    min_distance : float, default=0.1
        Smallest Jensen–Shannon distance that counts as drift (effect size).
    drifting_share, retrain_share : float, default=0.3, 0.5
        Share of drifted features from which the verdict reads "drifting" / "retrain".
        Mail always moves a little (a new week brings new subjects and new contacts): a few
        drifted features with the flagged share as expected is a model that still fits.
    drifting_flag_ratio, retrain_flag_ratio : float, default=1.6, 3.0
        Flagged share over the expected one from which the verdict reads "drifting" / "retrain".
    """

    def __init__(
        self,
        profile: HealthProfile,
        *,
        alpha: float = 0.01,
        min_distance: float = 0.1,
        drifting_share: float = 0.3,
        retrain_share: float = 0.5,
        drifting_flag_ratio: float = 1.6,
        retrain_flag_ratio: float = 3.0,
    ):
        self.profile = profile
        self.alpha = alpha
        self.min_distance = min_distance
        self.drifting_share = drifting_share
        self.retrain_share = retrain_share
        self.drifting_flag_ratio = drifting_flag_ratio
        self.retrain_flag_ratio = retrain_flag_ratio
        self._counts = {f.name: np.zeros(len(f.shares), dtype=np.int64) for f in profile.features}
        self._sums = dict.fromkeys(self._counts, 0.0)
        self._seen = dict.fromkeys(self._counts, 0)
        self._hours = np.zeros(24, dtype=np.int64)
        self._error_counts = np.zeros(len(profile.error_shares), dtype=np.int64)
        self._errors_seen = 0
        self._flagged = 0
        self._rows = 0
        self._contribution: dict[str, float] = {}
        self._empty = pd.Series(dtype="int64")
        self._new_senders: pd.Series = pd.Series(dtype="int64")
        self._frame_rows = 0

    def update(
        self,
        described: pd.DataFrame,
        errors: np.ndarray,
        flagged: np.ndarray | None = None,
        *,
        squared: np.ndarray | None = None,
        sources: tuple[str, ...] = (),
        frame: pd.DataFrame | None = None,
    ) -> None:
        """Add one chunk: its described features, errors, flags, per-column squared errors and rows."""
        if frame is not None:
            self._frame_rows += len(frame)
            self._empty = self._empty.add(_empty_counts(frame, share=False), fill_value=0)
            if "sender_new" in described and SENDER in frame:
                new = described["sender_new"].to_numpy(dtype=float) > 0
                counts = _sender_addresses(frame[SENDER][new]).value_counts()
                self._new_senders = self._new_senders.add(counts[counts.index != ""], fill_value=0)
                if len(self._new_senders) > _MAX_TRACKED_SENDERS:  # keep the heavy hitters only
                    self._new_senders = self._new_senders.nlargest(_MAX_TRACKED_SENDERS // 2)
        for name, total in contributions_by_source(squared, sources).items():
            self._contribution[name] = self._contribution.get(name, 0.0) + total
        self._rows += len(described)
        for feature in self.profile.features:
            if feature.name not in described:
                continue
            values = described[feature.name].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            self._counts[feature.name] += feature.bin_counts(finite)
            self._sums[feature.name] += float(finite.sum())
            self._seen[feature.name] += len(finite)
        if "hour" in described:
            self._hours += _hour_counts(described["hour"])
        errors = np.asarray(errors, dtype=float)
        errors = errors[np.isfinite(errors)]
        inner = np.asarray(self.profile.error_edges[1:-1], dtype=float)
        self._error_counts += np.bincount(np.searchsorted(inner, errors, side="left"), minlength=len(inner) + 1)
        self._errors_seen += len(errors)
        if flagged is not None:
            self._flagged += int(np.count_nonzero(flagged))

    def empty_copy(self) -> HealthMonitor:
        """A monitor with this one's profile and settings and nothing seen yet (for a worker's chunk)."""
        return type(self)(
            self.profile,
            alpha=self.alpha,
            min_distance=self.min_distance,
            drifting_share=self.drifting_share,
            retrain_share=self.retrain_share,
            drifting_flag_ratio=self.drifting_flag_ratio,
            retrain_flag_ratio=self.retrain_flag_ratio,
        )

    def merge(self, other: HealthMonitor) -> None:
        """Add what ``other`` (an :meth:`empty_copy` fed other chunks) has seen, as if this one had."""
        for name in self._counts:
            self._counts[name] += other._counts[name]
            self._sums[name] += other._sums[name]
            self._seen[name] += other._seen[name]
        for name, total in other._contribution.items():
            self._contribution[name] = self._contribution.get(name, 0.0) + total
        self._hours += other._hours
        self._error_counts += other._error_counts
        self._errors_seen += other._errors_seen
        self._flagged += other._flagged
        self._rows += other._rows
        self._frame_rows += other._frame_rows
        self._empty = self._empty.add(other._empty, fill_value=0)
        self._new_senders = self._new_senders.add(other._new_senders, fill_value=0)
        if len(self._new_senders) > _MAX_TRACKED_SENDERS:
            self._new_senders = self._new_senders.nlargest(_MAX_TRACKED_SENDERS // 2)

    def report(self) -> HealthReport:
        profile = self.profile
        rows = []
        for feature in profile.features:
            counts = self._counts[feature.name]
            seen = self._seen[feature.name]
            reference = np.asarray(feature.shares, dtype=float)
            reference_counts = np.round(reference * profile.n_reference)
            rows.append(
                {
                    "feature": feature.name,
                    "field": feature.field,
                    "distance": _js_distance(reference, counts) if seen else 0.0,
                    "p_value": _homogeneity_p_value(reference_counts, counts) if seen else 1.0,
                    "training": feature.mean,
                    "now": self._sums[feature.name] / seen if seen else float("nan"),
                    "error_increase": self._error_increase(feature.name),
                }
            )
        columns = ["feature", "field", "distance", "p_value", "training", "now", "error_increase"]
        table = pd.DataFrame(rows, columns=columns)
        if len(table):
            from scipy.stats import false_discovery_control

            table["p_adjusted"] = false_discovery_control(table["p_value"].to_numpy(), method="bh")
        else:
            table["p_adjusted"] = []
        table["drifted"] = (table["p_adjusted"] < self.alpha) & (table["distance"] >= self.min_distance)
        table = table.sort_values("distance", ascending=False, kind="stable").reset_index(drop=True)

        drift_share = float(table["drifted"].mean()) if len(table) else 0.0
        flagged_share = self._flagged / self._errors_seen if self._errors_seen else 0.0
        expected = profile.expected_flagged_share
        hour_training = self._reference_hours()
        indicators = self._indicators(table, hour_training)

        notes = []
        findings = self._findings(table, hour_training)
        flag_ratio = flagged_share / expected if expected > 0 else 0.0
        reasons = [text for _, text in findings]
        if self._errors_seen >= MIN_ROWS and flag_ratio >= self.drifting_flag_ratio:
            reasons.append(f"{flagged_share:.1%} of mail flagged, {flag_ratio:.1f}x the {expected:.0%} expected")
        named = {name for name, _ in findings}
        reasons += [
            self._phrase(row, hour_training)
            for row in self._ranked_shifts(table).itertuples()
            if row.feature not in named
        ]
        reasons = reasons[:3]
        strong_finding = any(distance >= FINDING_DISTANCE for distance, _ in self._scored_findings)

        if self._rows < MIN_ROWS:
            verdict = "fits"
            notes.append(f"Only {self._rows} rows scored: too few to judge drift (need {MIN_ROWS}).")
            reasons = []
        elif drift_share >= self.retrain_share or flag_ratio >= self.retrain_flag_ratio:
            verdict = "retrain"
        elif drift_share >= self.drifting_share or flag_ratio >= self.drifting_flag_ratio or strong_finding:
            verdict = "drifting"
        else:
            verdict = "fits"
        error_shares = self._error_counts / max(self._errors_seen, 1)
        return HealthReport(
            verdict=verdict,
            reasons=reasons,
            features=table[FEATURE_TABLE_COLUMNS],
            indicators=indicators,
            drift_share=drift_share,
            flagged_share=flagged_share,
            expected_flagged_share=expected,
            rows=self._rows,
            error_edges=np.asarray(profile.error_edges, dtype=float),
            training_error_shares=np.asarray(profile.error_shares, dtype=float),
            error_shares=error_shares,
            hour_training=hour_training,
            hour_now=self._hours / self._hours.sum() if self._hours.sum() else None,
            notes=notes,
        )

    def _error_increase(self, name: str) -> float:
        """How much more (per row) this feature adds to the error than on held-out training mail."""
        reference = self.profile.error_contribution.get(name)
        if reference is None or name not in self._contribution or not self._errors_seen:
            return float("nan")
        return self._contribution[name] / self._errors_seen - reference

    def _findings(self, table: pd.DataFrame, hour_training: np.ndarray | None) -> list[tuple[str, str]]:
        """Changes an analyst names in email terms, largest first: (feature it explains, words).

        Empty fields (a changed export), a new bulk sender, mail from unknown domains (another
        organisation, a new platform), the hour-of-day mix (a shifted time zone).
        """
        scored: list[tuple[float, str, str]] = []
        rows = max(self._frame_rows, 1)
        for field_name, count in self._empty.items():
            before = self.profile.empty_shares.get(field_name)
            now = count / rows
            if before is None:
                continue
            distance = _share_distance(before, now)
            if distance >= self.min_distance and now > before:
                feature = {SUBJECT: "subject_length", SENDER: "sender_count", RECIPIENT: "recipient_n"}[field_name]
                scored.append((distance, feature, f"{field_name} empty in {now:.0%} of mail, {before:.0%} in training"))
        if len(self._new_senders):
            sender, count = self._new_senders.idxmax(), float(self._new_senders.max())
            share = count / rows
            if share >= BULK_SHARE:
                scored.append(
                    (
                        _share_distance(0.0, share),
                        "sender_new",
                        f"new bulk sender {sender}: {share:.0%} of mail ({int(count):,} messages), "
                        "never seen in training",
                    )
                )
        by_name = table.set_index("feature")
        if "sender_domain_new" in by_name.index:
            entry = by_name.loc["sender_domain_new"]
            if entry["drifted"] and entry["now"] > entry["training"]:
                distance = _share_distance(entry["training"], entry["now"])
                scored.append((distance, "sender_domain_new", self._phrase_feature("sender_domain_new", entry)))
        now_hours = self._hours / self._hours.sum() if self._hours.sum() else None
        if hour_training is not None and now_hours is not None:
            distance = _js_distance(hour_training, now_hours)
            if distance >= FINDING_DISTANCE:
                scored.append(
                    (
                        distance,
                        "hour",
                        _hour_phrase(now_hours, hour_training),
                    )
                )
        scored.sort(key=lambda item: item[0], reverse=True)
        self._scored_findings = [(distance, text) for distance, _, text in scored]
        return [(feature, text) for _, feature, text in scored]

    def _ranked_shifts(self, table: pd.DataFrame) -> pd.DataFrame:
        """Drifted features, those that cost the model most first (by distance without error data).

        A shift the model shrugs off (a new week brings new subjects) ranks below one that
        moves errors (a new bulk sender), whatever the size of the distribution change.
        """
        drifted = table[table["drifted"]]
        if drifted["error_increase"].notna().any():
            return drifted.sort_values(["error_increase", "distance"], ascending=False, na_position="last")
        return drifted

    # -- in email terms -----------------------------------------------------------------

    def _reference_hours(self) -> np.ndarray | None:
        """The training hour-of-day mix, 24 shares (spread from the hour feature's bins if not kept)."""
        if self.profile.hour_shares:
            shares = np.asarray(self.profile.hour_shares, dtype=float)
            return shares / shares.sum() if shares.sum() else None
        hour = next((f for f in self.profile.features if f.name == "hour"), None)
        if hour is None:
            return None
        shares = np.zeros(24)
        cuts = np.asarray(hour.cuts, dtype=float)
        if hour.categorical:
            for value, share in zip(cuts, hour.shares[: len(cuts)], strict=True):
                shares[int(value) % 24] += share
            return shares / shares.sum() if shares.sum() else None
        # Each quantile bin's share spread evenly over the whole hours it covers.
        lows = np.concatenate([[0.0], cuts])
        highs = np.concatenate([cuts, [24.0]])
        for low, high, share in zip(lows, highs, hour.shares, strict=True):
            first, last = int(np.floor(low)), int(np.ceil(high)) - 1
            span = np.arange(max(first, 0), min(last, 23) + 1)
            if len(span):
                shares[span] += share / len(span)
        return shares / shares.sum() if shares.sum() else None

    def _indicators(self, table: pd.DataFrame, hour_training: np.ndarray | None) -> pd.DataFrame:
        by_name = table.set_index("feature")
        rows = []
        for name in INDICATORS:
            if name not in by_name.index:
                continue
            label, reads = _EMAIL_TERMS[name]
            entry = by_name.loc[name]
            if reads == "hour":
                now = self._hours / self._hours.sum() if self._hours.sum() else None
                distance = _js_distance(hour_training, now) if hour_training is not None and now is not None else 0.0
                training_text = _centre_hour(hour_training)
                now_text = _centre_hour(now)
            else:
                distance = float(entry["distance"])
                training_text = _reading(reads, entry["training"])
                now_text = _reading(reads, entry["now"])
            rows.append({"indicator": label, "training": training_text, "now": now_text, "distance": distance})
        rows.append(
            {
                "indicator": "flagged share",
                "training": f"{self.profile.expected_flagged_share:.1%} expected",
                "now": f"{self._flagged / self._errors_seen:.1%}" if self._errors_seen else "–",
                "distance": float("nan"),
            }
        )
        return pd.DataFrame(rows, columns=["indicator", "training", "now", "distance"])

    def _phrase(self, row, hour_training: np.ndarray | None) -> str:
        if _EMAIL_TERMS.get(row.feature, ("", ""))[1] == "hour":
            now = self._hours / self._hours.sum() if self._hours.sum() else None
            return _hour_phrase(now, hour_training)
        return self._phrase_feature(row.feature, {"field": row.field, "now": row.now, "training": row.training})

    @staticmethod
    def _phrase_feature(name: str, entry) -> str:
        label, reads = _EMAIL_TERMS.get(name, (name.replace("_", " "), "mean"))
        where = f" ({entry['field']})" if entry["field"] and reads != "share" else ""
        return f"{label}{where}: {_reading(reads, entry['now'])} now, {_reading(reads, entry['training'])} in training"


def _share_distance(before: float, now: float) -> float:
    """Jensen–Shannon distance between two yes/no shares (0 same, 1 opposite)."""
    return _js_distance(np.array([1 - before, before]), np.array([1 - now, now]))


def _reading(reads: str, value: float) -> str:
    if not np.isfinite(value):
        return "–"
    if reads == "share":
        return f"{value:.0%} of mail"
    return f"mean {value:.3g}"


def _hour_phrase(now: np.ndarray | None, training: np.ndarray | None) -> str:
    return (
        f"hour-of-day mix shifted: mail centred on {_centre_hour(now)} now, {_centre_hour(training)} in training "
        "(a time-zone or clock change?)"
    )


def _centre_hour(shares: np.ndarray | None) -> str:
    """The circular mean of an hour-of-day mix (23:00 and 01:00 centre on midnight), as HH:MM UTC."""
    if shares is None or not np.sum(shares):
        return "–"
    angle = 2 * np.pi * (np.arange(24) + 0.5) / 24
    mean = np.arctan2(np.sum(shares * np.sin(angle)), np.sum(shares * np.cos(angle)))
    minutes = int(round((mean % (2 * np.pi)) / (2 * np.pi) * 24 * 60)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d} UTC"


def check_health(
    profile: HealthProfile,
    described: pd.DataFrame,
    errors: np.ndarray,
    flagged: np.ndarray | None = None,
    *,
    squared: np.ndarray | None = None,
    sources: tuple[str, ...] = (),
    frame: pd.DataFrame | None = None,
    **params,
) -> HealthReport:
    """One-shot comparison (a :class:`HealthMonitor` fed one chunk); ``params`` go to the monitor."""
    monitor = HealthMonitor(profile, **params)
    monitor.update(described, errors, flagged, squared=squared, sources=sources, frame=frame)
    return monitor.report()


RETRAIN_TO_ENABLE = (
    "health check unavailable: this model was saved before health checks existed; retrain it "
    "(Train page or python -m core train) to enable them"
)


def monitor_for(detector, **params) -> HealthMonitor | None:
    """A monitor for scoring with ``detector``, or None when its bundle predates health profiles."""
    profile = getattr(detector, "health_profile_", None)
    return None if profile is None else HealthMonitor(profile, **params)


def format_report(report: HealthReport, *, max_features: int = 15) -> str:
    """The verdict, its reasons and the tables as plain text (the command line's output)."""
    lines = [f"verdict: {report.label} — {report.rows:,} rows, {report.drift_share:.0%} of features drifted"]
    lines += [f"  - {reason}" for reason in report.reasons]
    lines += [f"  note: {note}" for note in report.notes]
    lines.append("")
    lines.append(report.indicators.drop(columns="distance").to_string(index=False))
    lines.append("")
    table = report.features.head(max_features).copy()
    table["drifted"] = table["drifted"].map({True: "yes", False: ""})
    lines.append(
        table.to_string(
            index=False,
            formatters={
                "distance": "{:.3f}".format,
                "p_value": "{:.2g}".format,
                "p_adjusted": "{:.2g}".format,
                "error_increase": "{:+.3f}".format,
                "training": "{:.4g}".format,
                "now": "{:.4g}".format,
            },
        )
    )
    return "\n".join(lines)
