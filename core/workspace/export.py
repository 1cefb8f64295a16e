"""A run's flagged rows for the SOC's tools: CSV, ECS NDJSON, Splunk HEC and CEF.

Every format carries the message (UUID, sender, recipient, subject, time), the score, the
reason, the analyst's verdict and — for rows an allow-list rule suppressed — the rule.

- **CSV**: as the dashboard's download, formula-safe (core.scoring.write_csv).
- **ECS NDJSON**: one Elastic Common Schema document per line (``email.*``, ``event.*``,
  ``rule.*``, verdicts under ``labels``); ``event.risk_score_norm`` is 50 at the run's threshold
  and 100 at twice it or above.
- **Splunk HEC**: one JSON object per event (``time``, ``sourcetype``, ``source``, ``event``),
  concatenated one per line, as the ``/services/collector/event`` endpoint takes them.
- **CEF**: ``CEF:0|vendor|product|version|signature|name|severity|extension``, header fields
  with ``\\`` and ``|`` escaped, extension values with ``\\``, ``=`` and line breaks escaped.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.workspace.store import ERROR, REASON, TOP_FIELD, VERDICT, RunInfo, Workspace

FORMATS = ("csv", "ecs", "hec", "cef")
VENDOR = "Email Log Anomaly Detection"
PRODUCT = "email-ad"
PRODUCT_VERSION = "1"
SOURCETYPE = "email_ad:flagged"
_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
_MESSAGE_ID = re.compile(r"^<?[^\s<>@]+@[^\s<>@]+>?$")

CSV_COLUMNS = [
    "run_id",
    UUID,
    ERROR,
    TOP_FIELD,
    REASON,
    SENDER,
    RECIPIENT,
    SUBJECT,
    TIME,
    "suppressed_by",
    "suppressed_rule",
    VERDICT,
    "verdict_reason",
    "verdict_note",
    "verdict_analyst",
    "verdict_at",
]


def export_run(workspace: Workspace, run_id: int, fmt: str, *, include_suppressed: bool = True) -> bytes:
    """The run's stored rows (suppressed ones too unless told otherwise) in ``fmt``, UTF-8."""
    if fmt not in FORMATS:
        from core.errors import DataError

        raise DataError(f"Unknown export format {fmt!r}: expected one of {', '.join(FORMATS)}.")
    run = workspace.run(run_id)
    rows = workspace.flagged(run_id, include_suppressed=include_suppressed)
    return {"csv": to_csv, "ecs": to_ecs, "hec": to_hec, "cef": to_cef}[fmt](run, rows)


# --------------------------------------------------------------------------- CSV


def to_csv(run: RunInfo, rows: pd.DataFrame) -> bytes:
    from core.scoring import to_csv_bytes

    frame = rows.assign(run_id=run.id)[CSV_COLUMNS]
    return to_csv_bytes(frame)


# --------------------------------------------------------------------------- ECS / HEC


def _addresses(text: str) -> list[str]:
    return [a.strip(".<>").lower() for a in _ADDRESS.findall(text or "")]


def _iso(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def risk_norm(error: float, threshold: float) -> float:
    """0–100: 50 at the threshold, 100 at twice it or more."""
    if not threshold > 0:
        return 100.0
    return round(min(100.0, max(0.0, 50.0 * error / threshold)), 2)


def _blank(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def ecs_document(run: RunInfo, row: pd.Series) -> dict:
    """One flagged row as an ECS document (nested objects)."""
    uuid = str(row[UUID])
    email = {
        "from": {"address": _addresses(row[SENDER]) or [str(row[SENDER])]},
        "to": {"address": _addresses(row[RECIPIENT]) or [str(row[RECIPIENT])]},
        "subject": str(row[SUBJECT]),
        "local_id": uuid,
    }
    if _MESSAGE_ID.match(uuid):
        email["message_id"] = uuid
    delivered = _iso(row[TIME])
    if delivered:
        email["delivery_timestamp"] = delivered
    document = {
        "@timestamp": delivered or _iso(run.created),
        "event": {
            "kind": "alert",
            "category": ["email"],
            "type": ["info"],
            "created": _iso(run.created),
            "risk_score": float(row[ERROR]),
            "risk_score_norm": risk_norm(float(row[ERROR]), run.threshold),
            "reason": str(row[REASON]),
            "provider": PRODUCT,
            "dataset": f"{PRODUCT}.flagged",
        },
        "email": email,
        "labels": {
            "run_id": str(run.id),
            "model": run.model_name,
            "top_field": str(row[TOP_FIELD]),
            "verdict": _blank(row[VERDICT]),
            "verdict_reason": _blank(row["verdict_reason"]),
            "verdict_note": _blank(row["verdict_note"]),
            "verdict_analyst": _blank(row["verdict_analyst"]),
        },
    }
    if not pd.isna(row["suppressed_by"]):
        document["rule"] = {"id": str(int(row["suppressed_by"])), "name": str(row["suppressed_rule"])}
        document["tags"] = ["suppressed"]
    return document


def to_ecs(run: RunInfo, rows: pd.DataFrame) -> bytes:
    """NDJSON: json.dumps escapes line breaks, so one document is always one line."""
    lines = [json.dumps(ecs_document(run, row), ensure_ascii=False) for _, row in rows.iterrows()]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def to_hec(run: RunInfo, rows: pd.DataFrame) -> bytes:
    events = []
    for _, row in rows.iterrows():
        document = ecs_document(run, row)
        stamp = pd.Timestamp(document["@timestamp"])
        events.append(
            json.dumps(
                {
                    "time": round(stamp.timestamp(), 3),
                    "source": PRODUCT,
                    "sourcetype": SOURCETYPE,
                    "event": document,
                },
                ensure_ascii=False,
            )
        )
    return "".join(event + "\n" for event in events).encode("utf-8")


# --------------------------------------------------------------------------- CEF


def cef_header(value) -> str:
    """A CEF header field: backslash and pipe escaped; line breaks can't be escaped there, so become spaces."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"[\r\n]+", " ", text)


def cef_value(value) -> str:
    """A CEF extension value: backslash, equals sign and line breaks escaped."""
    text = _blank(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _millis(value) -> str:
    iso = _iso(value)
    return "" if iso is None else str(int(pd.Timestamp(iso).timestamp() * 1000))


def cef_line(run: RunInfo, row: pd.Series) -> str:
    suppressed = not pd.isna(row["suppressed_by"])
    norm = risk_norm(float(row[ERROR]), run.threshold)
    severity = max(0, min(10, int(round(norm / 10))))
    header = [
        "CEF:0",
        cef_header(VENDOR),
        cef_header(PRODUCT),
        cef_header(PRODUCT_VERSION),
        "email-suppressed" if suppressed else "email-anomaly",
        cef_header(f"Unusual email ({row[TOP_FIELD]})"),
        str(severity),
    ]
    extension = {
        "rt": _millis(row[TIME]),
        "externalId": row[UUID],
        "suser": row[SENDER],
        "duser": row[RECIPIENT],
        "msg": row[SUBJECT],
        "reason": row[REASON],
        "cfp1": f"{float(row[ERROR]):.6g}",
        "cfp1Label": "reconstruction_error",
        "cn1": run.id,
        "cn1Label": "run_id",
        "cs1": row[VERDICT],
        "cs1Label": "verdict",
        "cs2": row["verdict_note"],
        "cs2Label": "verdict_note",
        "cs3": row["verdict_reason"],
        "cs3Label": "verdict_reason",
        "cs4": row["suppressed_rule"] if suppressed else "",
        "cs4Label": "suppressed_by_rule",
        "cs5": str(int(row["suppressed_by"])) if suppressed else "",
        "cs5Label": "suppressed_by_rule_id",
    }
    return "|".join(header) + "|" + " ".join(f"{key}={cef_value(value)}" for key, value in extension.items())


def to_cef(run: RunInfo, rows: pd.DataFrame) -> bytes:
    return "".join(cef_line(run, row) + "\n" for _, row in rows.iterrows()).encode("utf-8")


def export_name(run_id: int, fmt: str) -> str:
    """A file name for a download: ``run-12-ecs.ndjson``."""
    suffix = {"csv": "csv", "ecs": "ndjson", "hec": "json", "cef": "cef"}[fmt]
    return f"run-{run_id}-{fmt}.{suffix}"
