"""Per-recipient exports read as they are vs one row per message (``--group-by-message``).

    python -m bench.grouping [--seeds 0 1] [--datasets demo csdmc2010 ceas08] [--epochs 20]

A Microsoft 365 or Google Workspace trace lists a message once per recipient. The shared
labeled logs are one row per message, so each is expanded to one row per recipient (the
way such a trace lists it), then split by *message* under the fixed protocol
(``core.evaluation.protocol_split``) and scored both ways:

- **per recipient**: trained and scored on the expanded rows; a message's score is the
  largest of its rows' (it is flagged when any of its rows is);
- **per message**: the expanded rows read back with ``group_by_message`` (recipients joined).

Prints ROC-AUC and PR-AUC of the message scores on the test half and precision/recall when
flagging above the 95th percentile of the training half's (message) scores, mean over seeds.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from bench.quality import DATASETS
from bench.table import markdown_table
from core.evaluation import detection_metrics, protocol_split
from core.features import recipient_lists
from core.loading import group_by_message, read_log
from core.model import AutoencoderDetector

DEMO_MESSAGES = 5000


def messages(name: str) -> pd.DataFrame | None:
    if name == "demo":
        from core.demo import make_demo_log

        frame = make_demo_log(DEMO_MESSAGES, seed=0).drop(columns=["anomaly_kind"])
        log = read_log(frame.to_csv(index=False).encode(), name="demo")
    else:
        if not DATASETS[name].is_file():
            print(f"skipping {name}: {DATASETS[name]} not found", file=sys.stderr)
            return None
        log = read_log(DATASETS[name])
    frame = log.frame[log.scorable]
    frame = frame[~frame["UUID"].duplicated(keep=False)]  # a few real duplicates would merge on grouping
    return frame.reset_index(drop=True)


def per_recipient(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per recipient address, each keeping its message's UUID (as a message trace lists it)."""
    lists = recipient_lists(frame["Recipient"]).map(lambda r: list(dict.fromkeys(r)) or [""])
    return frame.assign(Recipient=lists).explode("Recipient", ignore_index=True)


def as_log(frame: pd.DataFrame):
    return read_log(frame.to_csv(index=False).encode(), name="expanded")


def message_scores(detector, frame: pd.DataFrame) -> pd.Series:
    """The largest row score of each message (indexed by UUID)."""
    return pd.Series(detector.decision_function(frame), index=frame["UUID"].to_numpy()).groupby(level=0).max()


def run(datasets, seeds, epochs) -> pd.DataFrame:
    rows = []
    for name in datasets:
        frame = messages(name)
        if frame is None:
            continue
        for seed in seeds:
            train, test, labels = protocol_split(frame, seed)
            y = pd.Series(labels, index=test["UUID"].to_numpy())
            expanded = {part: as_log(per_recipient(f)) for part, f in (("train", train), ("test", test))}
            ways = {
                "per recipient": {p: log.frame for p, log in expanded.items()},
                "per message": {p: group_by_message(log).frame for p, log in expanded.items()},
            }
            for way, parts in ways.items():
                detector = AutoencoderDetector(epochs=epochs, seed=seed).fit(parts["train"])
                s_train = message_scores(detector, parts["train"])
                s_test = message_scores(detector, parts["test"]).reindex(y.index)
                m = detection_metrics(y.to_numpy(), s_test.to_numpy(), np.percentile(s_train, 95))
                rows.append(
                    {
                        "data": name,
                        "read": way,
                        "seed": seed,
                        "training rows": len(parts["train"]),
                        "test messages": len(y),
                        "ROC-AUC": m["roc_auc"],
                        "PR-AUC": m["pr_auc"],
                        "precision": m["precision"],
                        "recall": m["recall"],
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["demo", "csdmc2010", "ceas08"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    results = run(args.datasets, args.seeds, args.epochs)
    table = results.groupby(["data", "read"], sort=False).mean(numeric_only=True).drop(columns="seed").reset_index()
    print(markdown_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
