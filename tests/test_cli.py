"""Every command through a real `python -m core` process: output, files and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    result = subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    return result


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """demo-data → train, once for the module."""
    work = tmp_path_factory.mktemp("cli")
    made = run("demo-data", work / "demo.csv", "--rows", 800, "--seed", 3)
    assert made.returncode == 0, made.stderr
    trained = run("train", work / "demo.csv", "--artifacts", work / "art", "--name", "demo", "--epochs", 3)
    assert trained.returncode == 0, trained.stderr
    return work, trained


def test_demo_data_is_deterministic(tmp_path):
    for name in ("a.csv", "b.csv"):
        assert run("demo-data", tmp_path / name, "--rows", 300, "--seed", 5).returncode == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "a.csv")
    assert len(frame) == 300 and {"label", "anomaly_kind"} <= set(frame.columns)


def test_train_prints_summary_and_saves_bundle(workspace):
    work, trained = workspace
    assert "threshold" in trained.stdout and "saved bundle demo" in trained.stdout
    assert "epoch   3/3" in trained.stderr  # progress bar
    assert (work / "art" / "demo" / "model.keras").is_file()


def test_detect_writes_scores_in_input_order(workspace):
    work, _ = workspace
    result = run(
        "detect",
        work / "demo.csv",
        "--artifacts",
        work / "art",
        "--out",
        work / "scores.csv",
        "--flagged",
        work / "flagged.csv",
        "--top",
        10,
    )
    assert result.returncode == 0, result.stderr
    assert "10 of 800 scored rows flagged" in result.stdout
    scores = pd.read_csv(work / "scores.csv")
    demo = pd.read_csv(work / "demo.csv")
    assert list(scores["UUID"]) == list(demo["UUID"])
    assert list(scores.columns[:3]) == ["UUID", "reconstruction_error", "is_anomaly"]
    assert scores["is_anomaly"].sum() == 10
    flagged = pd.read_csv(work / "flagged.csv")
    assert set(flagged["UUID"]) == set(scores.loc[scores["is_anomaly"] == 1, "UUID"])


def test_detect_threshold_rules_are_exclusive(workspace):
    work, _ = workspace
    result = run(
        "detect", work / "demo.csv", "--artifacts", work / "art", "--out", work / "s.csv", "--top", 3, "--rate", 0.1
    )
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_prints_json_metrics(workspace):
    work, _ = workspace
    result = run("evaluate", work / "demo.csv", "--artifacts", work / "art")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert 0 <= metrics["roc_auc"] <= 1 and metrics["model"] == "demo"


def test_unscored_rows_are_listed(workspace, tmp_path):
    work, _ = workspace
    data = tmp_path / "odd.csv"
    data.write_text(
        "UUID,Recipient,Sender,Subject,Time Processed\n"
        "a,x@northwind-traders.com,y@never-seen.example,Hi,2026-11-02T09:00:00Z\n"
        "b,x@northwind-traders.com,y@never-seen.example,Hi,not a time\n"
    )
    result = run("detect", data, "--artifacts", work / "art", "--out", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr
    scores = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert scores.loc[1, "reconstruction_error"] == "" and "not a time" in scores.loc[1, "reason"]
    assert "not scored (unreadable time): 1" in result.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image"),
        (b"id,to,from,subject,date\n1,a@b.c,d@e.f,hi,2026-01-01\n", "missing column"),
        (b"UUID,Recipient,Sender,Subject,Time Processed\n", "no data rows"),
        (b"UUID,Recipient,Sender,Subject,Time Processed\n1,a@b.c,d@e.f,hi,never\n", "could be read as a time"),
        (
            b"UUID,Recipient,Sender,Subject,Time Processed\n1,a@b.c,d@e.f,hi,2026-01-01T00:00:00Z\n",
            "Too few rows to train",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    result = run("train", data, "--artifacts", tmp_path / "art", "--epochs", 1)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_missing_file_and_missing_model_exit_2(tmp_path):
    result = run("detect", tmp_path / "nope.csv", "--out", tmp_path / "s.csv")
    assert result.returncode == 2 and "No such file" in result.stderr
    data = tmp_path / "d.csv"
    assert run("demo-data", data, "--rows", 100).returncode == 0
    result = run("detect", data, "--artifacts", tmp_path / "empty", "--out", tmp_path / "s.csv")
    assert result.returncode == 2 and "No saved models" in result.stderr


def test_evaluate_without_label_exits_2(workspace, tmp_path):
    work, _ = workspace
    data = tmp_path / "nolabel.csv"
    pd.read_csv(work / "demo.csv").drop(columns=["label"]).to_csv(data, index=False)
    result = run("evaluate", data, "--artifacts", work / "art")
    assert result.returncode == 2 and "'label' column" in result.stderr


@pytest.mark.parametrize("command", ["demo-data", "train", "detect", "evaluate"])
def test_help_for_each_command(command):
    result = run(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_usage_error_exits_2():
    result = run("train")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_train_help_states_the_detectors_own_defaults():
    import re

    from core.cli import build_parser
    from core.model import AutoencoderDetector

    defaults = AutoencoderDetector().get_params()
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    stated = {a.dest: re.search(r"default ([\d.]+)", a.help or "") for a in train._actions}
    stated = {dest: float(m.group(1)) for dest, m in stated.items() if m}
    assert stated.keys() >= {
        "epochs",
        "batch_size",
        "percentile",
        "test_size",
        "validation_split",
        "trim_fraction",
        "seed",
    }
    assert stated == {dest: float(defaults[dest]) for dest in stated}
