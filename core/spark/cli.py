"""``python -m core detect|train … --engine spark``: the local commands' output, from Spark."""

from __future__ import annotations

import sys

EXIT_OK = 0
UNSCORED_DAY = "unscored"


def detect(args, column_map, artifacts) -> int:
    from pyspark.sql import functions as F

    from core.artifacts import load_bundle
    from core.scoring import ERROR, FLAGGED_COLUMNS, IS_ANOMALY, REASON, SCORED, UUID
    from core.spark.io import ORDER_COLUMNS, quoted, read_spark_log, write_ordered_csv
    from core.spark.scoring import check_some_scored, score_columns, score_spark_log, spark_threshold
    from core.spark.session import get_session
    from core.spark.workspace import SparkRunCounts, data_fingerprint, record_spark_run
    from core.workspace.cli import threshold_rule
    from core.workspace.events import KNOWN_EVENT
    from core.workspace.feedback import scoring_marks
    from core.workspace.rules import SUPPRESSED_BY
    from core.workspace.store import Workspace, bundle_checksum

    ws = Workspace.open(args.db, artifacts)  # a wrong --db fails now, not after a long scoring (as locally)
    detector = load_bundle(args.name, artifacts)
    spark = get_session(args.master)
    log = read_spark_log(spark, args.data, columns=column_map, preset=args.preset)
    for warning in log.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # The workspace's rules, events and verdicts are read once here and applied in the executors.
    # Scored once, kept (memory, then disk) for the threshold, the output, the run and the summary.
    cached: list = []  # the parsed input, read once for the whole-file context
    scored = score_spark_log(spark, detector, log, marks=scoring_marks(ws), keep=cached).persist()
    try:
        check_some_scored(scored, log)
        threshold = spark_threshold(
            scored,
            fitted=detector.threshold_,
            value=args.threshold,
            percentile=args.percentile,
            rate=args.rate,
            top=args.top,
        )
        limit = threshold.value
        above = F.coalesce(F.col(ERROR).isNotNull() & ~F.isnan(ERROR) & (F.col(ERROR) > F.lit(limit)), F.lit(False))
        # Cleared on suppressed rows and rows inside a known event, as ScoringMarks.apply clears it locally.
        unmarked = F.col(SUPPRESSED_BY).isNull() & F.col(KNOWN_EVENT).isNull()
        result = scored.withColumn(IS_ANOMALY, above & unmarked)
        columns = [quoted(c) for c in score_columns(result, log.extra_columns)]
        order = [F.col(c) for c in ORDER_COLUMNS]
        if str(args.out).lower().endswith(".csv"):
            write_ordered_csv(result.select(*columns, *ORDER_COLUMNS), order, args.out)
        else:
            # Rows whose time can't be read get a named partition: a null one (Hive's default)
            # is one that pandas/pyarrow can't read back alongside the days.
            day = F.coalesce(F.date_format(F.col(quoted("Time Processed")), "yyyy-MM-dd"), F.lit(UNSCORED_DAY))
            (
                result.select(*columns, *ORDER_COLUMNS)
                .withColumn("day", day)
                .repartition("day")
                .sortWithinPartitions(*order)
                .drop(*ORDER_COLUMNS)
                .write.mode("overwrite")
                .partitionBy("day")
                .parquet(str(args.out))
            )
        flagged = result.where(F.col(IS_ANOMALY))
        if args.flagged:
            by_error = [F.col(ERROR).desc(), *order]
            picked = flagged.select(*[quoted(c) for c in FLAGGED_COLUMNS], *ORDER_COLUMNS)
            write_ordered_csv(picked, by_error, args.flagged)
        counts = result.agg(
            F.sum(F.col(IS_ANOMALY).cast("long")),
            F.sum(F.col(SCORED).cast("long")),
            F.count(F.lit(1)),
            F.sum((above & F.col(KNOWN_EVENT).isNotNull()).cast("long")),
        ).first()
        n_flagged, n_scored, n_rows, n_in_events = (int(v or 0) for v in counts)
        run = record_spark_run(
            ws,
            result,
            above,
            SparkRunCounts(rows_total=n_rows, rows_scored=n_scored, n_in_events=n_in_events),
            threshold=limit,
            model_name=detector.bundle_name_,
            model_checksum=bundle_checksum(artifacts / detector.bundle_name_),
            data_name=log.label,
            data_sha256=data_fingerprint(args.data),
            threshold_rule=threshold_rule(args),
            origin="cli",
        )
        if run.n_in_events:
            print(f"known events: {run.n_in_events:,} rows above the threshold kept out of the queue")
        print(
            f"model {detector.bundle_name_}: {n_flagged:,} of {n_scored:,} scored rows flagged "
            f"(threshold {limit:.6g}, {threshold.note}); not scored (unreadable time): {n_rows - n_scored:,}"
        )
        for row in flagged.orderBy(F.col(ERROR).desc(), *order).select(UUID, ERROR, REASON).limit(10).collect():
            print(f"  {row[0]}  {row[1]:.4g}  {row[2]}")
        print(f"scores written to {args.out}" + (f", flagged to {args.flagged}" if args.flagged else ""))
        print(f"run {run.id} (suppressed by allow-list rules: {run.n_suppressed:,})")
    finally:
        for frame in (scored, *cached):
            frame.unpersist()
    return EXIT_OK


def train(args, column_map, artifacts) -> int:
    import time

    from core.artifacts import save_bundle
    from core.cli import EpochBars, new_detector, training_summary
    from core.provenance import default_analyst
    from core.spark.io import read_spark_log
    from core.spark.session import get_session
    from core.spark.training import DEFAULT_SAMPLE_ROWS, train_on_spark
    from core.workspace.cli import workspace_exists
    from core.workspace.store import Workspace

    detector = new_detector(args)
    spark = get_session(args.master)
    log = read_spark_log(spark, args.data, columns=column_map, preset=args.preset)
    for warning in log.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # As the local train: --use-verdicts reads verdicts and events; plain train the events of an
    # existing workspace (none is created for asking).
    verdicts, events = None, None
    if args.use_verdicts or workspace_exists(args.db, artifacts):
        ws = Workspace.open(args.db, artifacts)
        verdicts = ws.verdicts_by_uuid() if args.use_verdicts else None
        events = ws.active_events()
    started = time.perf_counter()
    sample_rows = DEFAULT_SAMPLE_ROWS if args.sample_rows is None else args.sample_rows
    with EpochBars() as bars:
        trained = train_on_spark(
            spark, log, detector, sample_rows=sample_rows, callback=bars, verdicts=verdicts, events=events, report=print
        )
    metadata = {
        "training_data": trained.training_data,
        "column_mapping": dict(log.columns),
        "preset": args.preset,
        "trained_by": default_analyst(),
        "training_engine": {
            "engine": "spark",
            "master": spark.conf.get("spark.master", args.master or ""),
            "sample_rows": sample_rows,
            "network_rows": trained.network_rows,
            "held_out_sample": trained.held_out_sample,
        },
    }
    info = save_bundle(detector, artifacts, name=args.name, extra_metadata=metadata)
    print(training_summary(detector, trained.rows_skipped, info, time.perf_counter() - started))
    print(
        f"count tables over all {detector.n_train_rows_:,} training rows (Spark); network on a sample of "
        f"{trained.network_rows:,}, threshold on {trained.held_out_sample:,} held-out rows"
    )
    return EXIT_OK
