"""Command line: ``python -m core {demo-data,train,detect,evaluate}``.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.errors import DataError
from core.schema import PRESETS
from core.workspace.cli import add_commands as add_workspace_commands
from core.workspace.cli import add_db_option

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m core",
        description="Learn what normal mail looks like in a gateway log and flag what isn't.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo-data", help="write a synthetic organisation mail log with labeled anomalies")
    demo.add_argument("out", metavar="OUT.csv")
    demo.add_argument("--rows", type=int, default=5000, help="number of messages (default 5000)")
    demo.add_argument("--seed", type=int, default=0)

    def add_input(p):
        p.add_argument("data", metavar="DATA.csv", help="the log: UUID, Recipient, Sender, Subject, Time Processed")
        p.add_argument("--preset", choices=sorted(PRESETS), help="column names of a known export")
        p.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help="map a header onto a field, e.g. --map 'Time Processed=date' (repeatable)",
        )
        p.add_argument(
            "--group-by-message",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="read rows sharing a UUID as one message with all its recipients (default: on for exports "
            "that list one row per recipient, such as a Microsoft 365 message trace; off otherwise)",
        )

    def add_engine(p, spark_note: str):
        p.add_argument(
            "--engine", choices=("local", "spark"), default="local", help=f"local (default), or spark: {spark_note}"
        )
        p.add_argument(
            "--master", default=None, help="Spark master with --engine spark (default local[*]; spark://, yarn, sc://)"
        )

    def add_jobs(p):
        p.add_argument(
            "--jobs",
            type=int,
            default=-1,
            metavar="N",
            help="score in N processes on this machine (default -1: one per core; 1: in this process only)",
        )

    def add_bundle(p):
        p.add_argument("--artifacts", default=None, metavar="DIR", help="bundle folder (default artifacts/)")
        p.add_argument("--name", default=None, help="bundle name (default: the latest)")

    train = commands.add_parser("train", help="train a detector and save it as a bundle")
    add_input(train)
    add_bundle(train)
    train.add_argument(
        "--features",
        choices=("email", "seed"),
        default="email",
        help="email (default): mail-aware features; seed: the report's recipe",
    )
    # None = the detector's own default (core.model.AutoencoderDetector), which the help
    # repeats without importing it (keeps --help fast); a test keeps the two in step.
    train.add_argument("--epochs", type=int, default=None, help="epochs of the final fit (default 50)")
    train.add_argument("--batch-size", type=int, default=None, help="default 1024")
    train.add_argument(
        "--percentile", type=float, default=None, help="threshold percentile of test errors (default 95)"
    )
    train.add_argument("--test-size", type=float, default=None, help="held-out share for the threshold (default 0.2)")
    train.add_argument("--validation-split", type=float, default=None, help="default 0.1")
    train.add_argument(
        "--trim-fraction",
        type=float,
        default=None,
        help="share of the training mail a screening fit finds least normal and leaves out "
        "(default 0.3; 0 = one plain fit)",
    )
    train.add_argument("--early-stopping", action="store_true")
    train.add_argument("--seed", type=int, default=None, help="default 0")
    train.add_argument("--use-verdicts", action="store_true", help="leave out confirmed mail, never trim benign mail")
    add_engine(train, "DATA may then be a folder/glob of CSVs or Parquet: count tables over every row, by Spark")
    train.add_argument(
        "--sample-rows",
        type=int,
        default=None,
        metavar="N",
        help="with --engine spark: the network learns from a uniform sample of N training rows (1,000,000 if unset)",
    )
    add_db_option(train)

    detect = commands.add_parser("detect", help="score a log with a saved detector")
    add_input(detect)
    add_bundle(detect)
    detect.add_argument("--out", required=True, metavar="SCORES.csv", help="one row per input row")
    rule = detect.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, help="flag errors above this value")
    rule.add_argument("--percentile", type=float, help="flag above this percentile of this file's errors")
    rule.add_argument("--rate", type=float, help="expected anomaly share, e.g. 0.02")
    rule.add_argument("--top", type=int, help="flag the N highest errors")
    detect.add_argument("--flagged", metavar="FLAGGED.csv", help="also write flagged UUIDs with error and reason")
    add_engine(
        detect,
        "DATA may then be a folder/glob of CSVs or Parquet, and OUT a Parquet folder partitioned by day "
        "unless it ends in .csv",
    )
    add_jobs(detect)
    add_db_option(detect)  # every detection is recorded as a run in the workspace

    health = commands.add_parser(
        "health", help="does this log still look like the model's training mail? verdict, reasons, drift table"
    )
    add_input(health)
    add_bundle(health)
    add_jobs(health)
    health.add_argument("--json", action="store_true", help="one JSON object: verdict, reasons, per-feature rows")

    evaluate = commands.add_parser("evaluate", help="measure a saved detector on a log with a 'label' column")
    add_input(evaluate)
    add_bundle(evaluate)
    add_jobs(evaluate)
    _COMMANDS.update(add_workspace_commands(commands))  # runs, verdict, rules, export, audit
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        print(f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_BAD_INPUT


def _column_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise DataError(f"--map expects FIELD=HEADER (e.g. 'Time Processed=date'), got {pair!r}.")
        mapping[field.strip()] = header.strip()
    return mapping


def _load(args):
    from core.loading import group_by_message, groups_by_default, read_log

    log = read_log(args.data, columns=_column_map(args.map), preset=args.preset)
    if args.group_by_message or (args.group_by_message is None and groups_by_default(log.report)):
        log = group_by_message(log)
    for warning in log.report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return log


def _artifacts(args) -> Path:
    from core.artifacts import DEFAULT_ARTIFACTS

    return Path(args.artifacts) if args.artifacts else DEFAULT_ARTIFACTS


def cmd_demo_data(args) -> int:
    from core.demo import make_demo_log

    if args.rows < 1:
        raise DataError(f"--rows must be at least 1, got {args.rows}.")
    frame = make_demo_log(args.rows, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame):,} rows ({int(frame['label'].sum()):,} injected anomalies) to {args.out}")
    return EXIT_OK


def _bar(total: int, desc: str, unit: str, **kwargs):
    """A tqdm progress bar on stderr, only when stderr is a terminal: a log file or pipe
    gets no bar (and no carriage-return updates), just the summary and any error line."""
    from tqdm import tqdm

    # sys.stderr looked up per call, so a redirected stderr (tests, callers) is honoured.
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True, **kwargs)


class _Bars:
    """Holds at most one open bar; a context manager, so the bar is closed (its line ended)
    whatever happens, and an error message that follows starts on a line of its own."""

    _bar = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EpochBars(_Bars):
    """Training progress, fed by the detector's per-epoch callback: one bar per stage
    (screening, then training) with the latest loss."""

    _stage = None

    def __call__(self, progress) -> None:
        if progress.stage != self._stage:
            self.close()
            self._stage = progress.stage
            self._bar = _bar(progress.epochs, f"{progress.stage:<9}", "epoch")
        postfix = {"loss": f"{progress.loss:.4f}"}
        if progress.val_loss is not None:
            postfix["val"] = f"{progress.val_loss:.4f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(progress.epoch - self._bar.n)


class RowBar(_Bars):
    """Scoring progress, fed by ``score_log``'s ``progress(done, total)`` after each chunk."""

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = _bar(total, "scoring", "row", unit_scale=True)
        self._bar.update(done - self._bar.n)


def new_detector(args):
    """The unfitted detector ``train``'s options ask for (the detector's defaults for the rest)."""
    from core.model import AutoencoderDetector

    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "percentile": args.percentile,
        "test_size": args.test_size,
        "validation_split": args.validation_split,
        "trim_fraction": args.trim_fraction,
        "seed": args.seed,
    }
    return AutoencoderDetector(
        feature_set=args.features,
        early_stopping=args.early_stopping,
        **{name: value for name, value in given.items() if value is not None},
    )


def cmd_train(args) -> int:
    from core.artifacts import save_bundle
    from core.provenance import training_metadata

    if args.engine == "spark":  # count tables by Spark over every row, network on a sample (core/spark)
        from core.spark.cli import train

        return train(args, _column_map(args.map), _artifacts(args))
    if args.sample_rows is not None:
        raise DataError("--sample-rows applies to --engine spark only (locally the network learns from every row).")
    log = _load(args)
    usable = log.frame[log.scorable]
    detector = new_detector(args)
    started = time.perf_counter()
    fit_options = {}
    if args.use_verdicts:
        from core.workspace.cli import verdict_training_rows

        usable, fit_options = verdict_training_rows(args, usable, _artifacts(args))
    else:  # rows inside a known event (a maintenance window, a blast) are never learned as normal
        from core.workspace.cli import event_training_rows

        usable = event_training_rows(args, usable, _artifacts(args))
    with EpochBars() as bars:
        detector.fit(usable, callback=bars, **fit_options)
    info = save_bundle(detector, _artifacts(args), name=args.name, extra_metadata=training_metadata(log, usable))
    print(training_summary(detector, int((~log.scorable).sum()), info, time.perf_counter() - started))
    return EXIT_OK


def training_summary(detector, skipped: int, info, seconds: float) -> str:
    """What ``train`` prints: rows used, features, epochs, threshold, where the bundle went, and
    a note when the log is small."""
    from core.model import small_log_note

    note = small_log_note(detector.n_train_rows_ + detector.n_trimmed_rows_ + detector.n_test_rows_)
    history = detector.history_
    val = f", validation {history['val_loss'][-1]:.4f}" if history["val_loss"] else ""
    return (
        f"rows used {detector.n_train_rows_ + detector.n_trimmed_rows_ + detector.n_test_rows_:,} "
        f"(train {detector.n_train_rows_:,}, left out as least normal {detector.n_trimmed_rows_:,}, "
        f"test {detector.n_test_rows_:,}), "
        f"skipped {skipped:,} with unreadable time\n"
        f"features {detector.feature_set} ({len(detector.preprocessor_.feature_names_out_)} columns)\n"
        f"epochs {detector.epochs_run_}/{detector.epochs}, final loss {history['loss'][-1]:.4f}{val}\n"
        f"threshold {detector.threshold_:.6g} ({detector.percentile:g}th percentile of test errors)\n"
        f"saved bundle {info.name} at {info.path} in {seconds:.1f}s" + (f"\nnote: {note}" if note else "")
    )


def cmd_detect(args) -> int:
    from core.artifacts import load_bundle
    from core.health import RETRAIN_TO_ENABLE, monitor_for
    from core.scoring import (
        ERROR,
        FLAGGED_COLUMNS,
        REASON,
        UUID,
        flagged_frame,
        resolve_threshold,
        score_log,
        write_csv,
    )

    if args.engine == "spark":  # same output, computed by Spark (core/spark)
        if args.group_by_message:
            raise DataError(
                "--group-by-message is not available with --engine spark: score a grouped log with the "
                "local engine, or export one row per message."
            )
        from core.spark.cli import detect

        return detect(args, _column_map(args.map), _artifacts(args))
    from core.workspace.store import Workspace

    Workspace.open(args.db, _artifacts(args))  # a wrong --db fails now, not after a long scoring
    log = _load(args)
    detector = load_bundle(args.name, _artifacts(args))
    monitor = monitor_for(detector)
    with RowBar() as bar:
        scores = score_log(detector, log, progress=bar, monitor=monitor, n_jobs=args.jobs)
    print(monitor.report().summary() if monitor is not None else RETRAIN_TO_ENABLE)
    threshold = resolve_threshold(
        scores[ERROR].to_numpy(),
        fitted=detector.threshold_,
        value=args.threshold,
        percentile=args.percentile,
        rate=args.rate,
        top=args.top,
    )
    scores["is_anomaly"] = scores[ERROR].to_numpy() > threshold
    from core.workspace.cli import record_detection  # allow-list rules, verdicts, the run

    def write_files(marked):
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_csv(_score_columns(marked), args.out)  # straight to the file: no copy of it in memory
        if args.flagged:
            write_csv(flagged_frame(marked[marked["is_anomaly"]], threshold)[list(FLAGGED_COLUMNS)], args.flagged)

    scores, run = record_detection(args, detector, scores, threshold, _artifacts(args), alongside=write_files)
    flagged = scores[scores["is_anomaly"]].sort_values(ERROR, ascending=False)
    unscored = int((~scores["scored"]).sum())
    print(
        f"model {detector.bundle_name_}: {len(flagged):,} of {int(scores['scored'].sum()):,} scored rows "
        f"flagged (threshold {threshold:.6g}); not scored (unreadable time): {unscored:,}"
    )
    for _, row in flagged.head(10).iterrows():
        print(f"  {row[UUID]}  {row[ERROR]:.4g}  {row[REASON]}")
    print(f"scores written to {args.out}" + (f", flagged to {args.flagged}" if args.flagged else ""))
    print(f"run {run.id} (suppressed by allow-list rules: {run.n_suppressed:,})")
    return EXIT_OK


def _score_columns(scores):
    """SCORES.csv layout: UUID, error, is_anomaly, reasons, then the rest."""
    from core.scoring import ERROR, IS_ANOMALY, REASON, SCORED, TOP_FIELD, UUID

    first = [UUID, ERROR, IS_ANOMALY, TOP_FIELD, REASON, SCORED]
    return scores[first + [c for c in scores.columns if c not in first]]


def cmd_health(args) -> int:
    from core.artifacts import load_bundle
    from core.health import RETRAIN_TO_ENABLE, format_report, monitor_for
    from core.scoring import score_log

    log = _load(args)
    detector = load_bundle(args.name, _artifacts(args))
    monitor = monitor_for(detector)
    if monitor is None:
        print(json.dumps({"verdict": None, "note": RETRAIN_TO_ENABLE}) if args.json else RETRAIN_TO_ENABLE)
        return EXIT_OK
    with RowBar() as bar:
        score_log(detector, log, progress=bar, monitor=monitor, n_jobs=args.jobs)
    report = monitor.report()
    if args.json:
        print(json.dumps({"model": detector.bundle_name_, **report.to_dict()}, default=_json_value))
    else:
        print(f"model {detector.bundle_name_}, data {log.report.source}")
        print(format_report(report))
    return EXIT_OK


def _json_value(value):
    return value.item() if hasattr(value, "item") else str(value)


def cmd_evaluate(args) -> int:
    from core.artifacts import load_bundle
    from core.evaluation import detection_metrics, labels_of
    from core.scoring import ERROR, score_log

    log = _load(args)
    labels = labels_of(log.frame)
    detector = load_bundle(args.name, _artifacts(args))
    with RowBar() as bar:
        scores = score_log(detector, log, progress=bar, n_jobs=args.jobs)
    scored = scores["scored"].to_numpy()
    metrics = detection_metrics(labels[scored], scores[ERROR].to_numpy()[scored], detector.threshold_)
    metrics["model"] = detector.bundle_name_
    metrics["unscored_rows"] = int((~scored).sum())
    print(json.dumps(metrics, indent=2))
    return EXIT_OK


_COMMANDS = {
    "demo-data": cmd_demo_data,
    "train": cmd_train,
    "detect": cmd_detect,
    "health": cmd_health,
    "evaluate": cmd_evaluate,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
