"""The workspace's commands: ``runs``, ``verdict``, ``rules``, ``events``, ``export``, ``audit``, and the
pieces ``detect`` (record a run) and ``train --use-verdicts`` call.

Every command takes ``--db URL`` (default ``$EMAIL_AD_DB``, else ``workspace.db`` in the
artifacts folder). Bad input is a DataError: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.errors import DataError

EXIT_OK = 0
COMMANDS = ("runs", "verdict", "rules", "events", "export", "audit")
_DB_HELP = "workspace database URL (default: $EMAIL_AD_DB, else workspace.db in the artifacts folder)"


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", default=None, help=_DB_HELP)


def _add_location(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)
    parser.add_argument("--artifacts", default=None, metavar="DIR", help="artifacts folder (default artifacts/)")


def _run_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a run id is a whole number (see `runs`), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a run id is a positive number, got {text!r}")
    return value


def _event_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"an event id is a whole number (see `events list`), got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"an event id is a positive number, got {text!r}")
    return value


def add_commands(commands) -> dict:
    """Register the workspace subcommands on ``commands`` (an argparse subparsers action);
    returns {command name: function(args) -> exit code}."""
    runs = commands.add_parser("runs", help="list recorded runs (newest first)")
    _add_location(runs)
    runs.add_argument("--limit", type=int, default=None, help="show only the N newest")
    runs.add_argument(
        "--delete",
        metavar="RUN_ID",
        type=_run_id,
        default=None,
        help="delete that run with its stored rows and verdicts (kept in the audit trail)",
    )
    runs.add_argument("--analyst", default=None, help="who deletes (default: $EMAIL_AD_ANALYST or login name)")

    verdict = commands.add_parser("verdict", help="record an analyst verdict on flagged messages of a run")
    _add_location(verdict)
    verdict.add_argument("run_id", metavar="RUN_ID", type=_run_id)
    verdict.add_argument("uuids", metavar="UUID", nargs="+", help="flagged messages of that run")
    verdict.add_argument("--as", dest="verdict", required=True, choices=("confirmed", "benign", "review"))
    verdict.add_argument("--category", default="", help="reason category, e.g. phishing, newsletter, spam")
    verdict.add_argument("--note", default="", help="free text")
    verdict.add_argument("--analyst", default=None, help="who decides (default: $EMAIL_AD_ANALYST or login name)")

    rules = commands.add_parser("rules", help="allow-list rules: add, list, remove, apply to past runs")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True, parser_class=type(rules))
    add = rule_commands.add_parser("add", help="add a rule; matching rows are scored but not flagged")
    _add_location(add)
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--sender", metavar="ADDRESS", help="one sender address")
    target.add_argument("--sender-domain", metavar="DOMAIN", help="a sender domain and its subdomains")
    target.add_argument("--pair", nargs=2, metavar=("SENDER", "RECIPIENT"), help="mail from SENDER to RECIPIENT")
    target.add_argument("--subject-regex", metavar="RE", help="subjects this Python regular expression finds")
    add.add_argument("--expires", metavar="YYYY-MM-DD", help="last day the rule applies (default: no expiry)")
    add.add_argument("--note", default="", help="why (shown in the list and the audit trail)")
    add.add_argument("--analyst", default=None)
    add.add_argument("--apply-to-past", action="store_true", help="also suppress matching rows of recorded runs")
    listing = rule_commands.add_parser("list", help="rules with their state (active, expired; removed with --all)")
    _add_location(listing)
    listing.add_argument("--all", action="store_true", help="include removed rules")
    remove = rule_commands.add_parser("remove", help="take a rule off the list (kept in the audit trail)")
    _add_location(remove)
    remove.add_argument("rule_id", metavar="RULE_ID", type=int)
    remove.add_argument("--analyst", default=None)
    apply = rule_commands.add_parser("apply", help="suppress rows of recorded runs that active rules match")
    _add_location(apply)
    apply.add_argument("run_id", metavar="RUN_ID", type=_run_id, nargs="?", help="one run (default: all)")
    apply.add_argument("--analyst", default=None)

    events = commands.add_parser(
        "events", help="known events (maintenance, a marketing blast): time windows scored but not flagged"
    )
    event_commands = events.add_subparsers(dest="events_command", required=True, parser_class=type(events))
    add = event_commands.add_parser(
        "add", help="declare a window; rows timed inside it are scored, not flagged, not trained on"
    )
    _add_location(add)
    add.add_argument("--start", required=True, metavar="ISO", help="first moment, e.g. 2026-11-02T09:00Z (UTC)")
    add.add_argument("--end", required=True, metavar="ISO", help="end of the window (not included), after --start")
    add.add_argument("--note", default="", help="what happened (optional; shown in the list and the audit trail)")
    add.add_argument("--analyst", default=None)
    listing = event_commands.add_parser("list", help="known events (removed ones with --all)")
    _add_location(listing)
    listing.add_argument("--all", action="store_true", help="include removed events")
    remove = event_commands.add_parser("remove", help="take an event off the list (kept in the audit trail)")
    _add_location(remove)
    remove.add_argument("event_id", metavar="EVENT_ID", type=_event_id)
    remove.add_argument("--analyst", default=None)

    export = commands.add_parser("export", help="write a run's flagged rows with verdicts for a SIEM")
    _add_location(export)
    export.add_argument("run_id", metavar="RUN_ID", type=_run_id)
    export.add_argument("--format", required=True, choices=("csv", "ecs", "hec", "cef"))
    export.add_argument("--out", required=True, metavar="FILE")
    export.add_argument("--flagged-only", action="store_true", help="leave out rows an allow-list rule suppressed")

    audit = commands.add_parser("audit", help="the audit trail, oldest first")
    _add_location(audit)
    audit.add_argument("run_id", metavar="RUN_ID", type=_run_id, nargs="?", help="one run's entries only")

    return {name: globals()[f"cmd_{name}"] for name in COMMANDS}


def _workspace(args):
    from core.workspace.store import Workspace

    return Workspace.open(args.db, getattr(args, "artifacts", None))


def _stamp(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else ""


def cmd_runs(args) -> int:
    if args.delete is not None:
        run = _workspace(args).delete_run(args.delete, analyst=args.analyst)
        print(f"run {run.id} deleted ({run.n_flagged:,} flagged rows, {run.n_reviewed:,} verdicts); see `audit`")
        return EXIT_OK
    runs = _workspace(args).runs(limit=args.limit)
    if not runs:
        print("no runs recorded yet: `python -m core detect DATA.csv --out S.csv` records one")
        return EXIT_OK
    print(f"{'id':>5}  {'created':<20}  {'model':<24}  {'data':<28}  {'rows':>9}  {'flagged':>7}  suppressed  reviewed")
    for run in runs:
        print(
            f"{run.id:>5}  {_stamp(run.created):<20}  {run.model_name[:24]:<24}  {run.data_name[:28]:<28}  "
            f"{run.rows_total:>9,}  {run.n_flagged:>7,}  {run.n_suppressed:>10,}  {run.n_reviewed:>8,}"
        )
    return EXIT_OK


def cmd_verdict(args) -> int:
    ws = _workspace(args)
    changed = ws.set_verdicts(
        args.run_id, args.uuids, args.verdict, reason=args.category, note=args.note, analyst=args.analyst
    )
    same = len(set(args.uuids)) - changed
    print(f"run {args.run_id}: {changed} marked {args.verdict}" + (f", {same} already were" if same > 0 else ""))
    return EXIT_OK


def cmd_rules(args) -> int:
    ws = _workspace(args)
    if args.rules_command == "add":
        if args.sender:
            kind, value, recipient = "sender", args.sender, ""
        elif args.sender_domain:
            kind, value, recipient = "sender_domain", args.sender_domain, ""
        elif args.pair:
            kind, (value, recipient) = "pair", args.pair
        else:
            kind, value, recipient = "subject_regex", args.subject_regex, ""
        before = sum(run.n_suppressed for run in ws.runs()) if args.apply_to_past else 0
        rule = ws.add_rule(
            kind,
            value,
            recipient,
            expires=args.expires,
            note=args.note,
            analyst=args.analyst,
            apply_to_past=args.apply_to_past,
        )
        print(f"rule {rule.id}: {rule.label}" + (f", expires after {rule.expires}" if rule.expires else ""))
        if args.apply_to_past:
            print(f"suppressed {sum(run.n_suppressed for run in ws.runs()) - before:,} rows of recorded runs")
    elif args.rules_command == "list":
        rules = ws.rules(include_removed=args.all)
        if not rules:
            print("no allow-list rules")
        for rule in rules:
            expires = f" expires {rule.expires}" if rule.expires else ""
            note = f"  # {rule.note}" if rule.note else ""
            print(f"{rule.id:>4}  {rule.state:<7}  {rule.label}{expires}  (by {rule.created_by}){note}")
    elif args.rules_command == "remove":
        rule = ws.remove_rule(args.rule_id, analyst=args.analyst)
        print(f"rule {rule.id} removed: {rule.label}")
    else:
        count = ws.reapply_rules(args.run_id, analyst=args.analyst)
        print(f"suppressed {count:,} rows of {'run ' + str(args.run_id) if args.run_id else 'recorded runs'}")
    return EXIT_OK


def cmd_events(args) -> int:
    ws = _workspace(args)
    if args.events_command == "add":
        event = ws.add_event(args.start, args.end, args.note, analyst=args.analyst)
        print(f"event {event.id}: {event.label}" + (f"  # {event.note}" if event.note else ""))
    elif args.events_command == "list":
        events = ws.events(include_removed=args.all)
        if not events:
            print("no known events")
        for event in events:
            note = f"  # {event.note}" if event.note else ""
            print(f"{event.id:>4}  {event.state:<7}  {event.label}  (by {event.created_by}){note}")
    else:
        event = ws.remove_event(args.event_id, analyst=args.analyst)
        print(f"event {event.id} removed: {event.label}")
    return EXIT_OK


def cmd_export(args) -> int:
    from core.workspace.export import export_run

    data = export_run(_workspace(args), args.run_id, args.format, include_suppressed=not args.flagged_only)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    lines = data.count(b"\n") - (1 if args.format == "csv" else 0)
    print(f"run {args.run_id}: {lines:,} rows as {args.format} to {out}")
    return EXIT_OK


def cmd_audit(args) -> int:
    entries = _workspace(args).audit(args.run_id)
    if not entries:
        print("the audit trail is empty")
    for entry in entries:
        change = f"{entry.old or '-'} -> {entry.new or '-'}"
        what = f"{entry.entity} {entry.entity_id}"
        print(f"{_stamp(entry.at)}  {entry.analyst:<12}  {entry.action:<11}  {what}  {change}")
    return EXIT_OK


# --------------------------------------------------------------------------- detect / train


def threshold_rule(args) -> str:
    """How ``detect``'s threshold was chosen, as the run records it."""
    for name in ("threshold", "percentile", "rate", "top"):
        value = getattr(args, name, None)
        if value is not None:
            return f"{name} {value:g}"
    return "fitted"


def record_detection(args, detector, scores, threshold: float, artifacts: Path, alongside=None):
    """Apply active allow-list rules, known events and earlier verdicts to ``scores`` and record the run.

    Returns (scores with ``suppressed_by``, ``known_event``, ``verdict`` and ``carry_over`` columns
    and ``is_anomaly`` cleared on suppressed rows and rows inside a known event, the recorded RunInfo).
    ``alongside(marked scores)`` runs in a thread while the run is recorded (``detect`` writes its
    files then: Arrow's writer and the database insert overlap); its error, if any, is raised after.
    """
    from concurrent.futures import ThreadPoolExecutor

    from core.artifacts import sha256_of_file
    from core.workspace.feedback import scoring_marks
    from core.workspace.store import Workspace, bundle_checksum

    ws = Workspace.open(args.db, artifacts)
    # Before recording: suppressed rows are stored as such, rows in a known event never reach the queue.
    scores = scoring_marks(ws).apply(scores, threshold)
    with ThreadPoolExecutor(1) as pool:
        side = pool.submit(alongside, scores) if alongside is not None else None
        run = ws.record_run(
            scores,
            threshold,
            model_name=detector.bundle_name_,
            model_checksum=bundle_checksum(artifacts / detector.bundle_name_),
            data_name=Path(args.data).name,
            data_sha256=sha256_of_file(Path(args.data)),
            threshold_rule=threshold_rule(args),
            origin="cli",
        )
        if side is not None:
            side.result()
    if run.n_in_events:
        print(f"known events: {run.n_in_events:,} rows above the threshold kept out of the queue")
    return scores, run


def verdict_training_rows(args, frame, artifacts: Path):
    """``train --use-verdicts``: the training rows (confirmed ones and rows inside known events left
    out) and the fit's ``always_keep`` mask; prints the counts."""
    from core.workspace.feedback import training_selection
    from core.workspace.store import Workspace

    ws = Workspace.open(args.db, artifacts)
    selection = training_selection(frame, ws.verdicts_by_uuid(), ws.active_events())
    print(selection.summary())
    if len(selection.frame) == 0:
        raise DataError(
            "Every training row has a confirmed verdict or lies inside a known event: nothing is left to "
            "learn normal mail from (`python -m core events list` shows the events)."
        )
    return selection.frame, {"always_keep": selection.keep}


def event_training_rows(args, frame, artifacts: Path):
    """Plain ``train``: the training rows without those inside an active known event (prints how
    many were left out). No workspace yet means no events: nothing is created for asking."""
    from core.workspace.feedback import training_selection
    from core.workspace.store import Workspace

    if not workspace_exists(args.db, artifacts):
        return frame
    events = Workspace.open(args.db, artifacts).active_events()
    if not events:
        return frame
    selection = training_selection(frame, {}, events)
    print(selection.summary())
    if len(selection.frame) == 0:
        raise DataError(
            "Every training row lies inside a known event: nothing is left to learn normal mail from "
            "(`python -m core events list` shows the events)."
        )
    return selection.frame


def workspace_exists(db_url: str | None, artifacts: Path) -> bool:
    """Whether a workspace is named (``--db``, ``$EMAIL_AD_DB``) or exists in the artifacts folder."""
    from core.workspace.db import DB_FILE, ENV_VAR

    return bool(db_url or os.environ.get(ENV_VAR, "").strip() or (Path(artifacts) / DB_FILE).is_file())
