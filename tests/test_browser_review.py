"""End-to-end triage in a real browser: the workspace loop through the dashboard, and three
analysts on one run at once.

Walk: demo data → train (2 epochs) → Detect (the scoring is recorded as run 1) → Review: mark a
flagged row benign with a note → "allow this sender domain" → Detect again: that domain's rows are
suppressed, not flagged (run 2) → export ECS and check the file → restart the server → runs and verdicts are
still there. Then three browser sessions verdict and export the same run: nothing is lost.
Screenshots go to ``test-results/review_*.png``. Skipped without /usr/bin/chromium unless CI=true.
"""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from tests.browser import RESULTS, ROOT, chromium, dashboard, download, go, metric, new_page, wait_idle
from tests.browser import shot as _shot

TRAIN_WAIT = 900_000  # ms: two epochs of the demo log on a loaded 2-core machine


def shot(page, name: str) -> None:
    _shot(page, f"review_{name}")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-e2e")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    db = f"sqlite:///{root / 'team.db'}"
    env = {
        **os.environ,
        "EMAIL_AD_ARTIFACTS": str(artifacts),
        "EMAIL_AD_DB": db,
        "EMAIL_AD_ANALYST": "e2e-analyst",
        "PYTHONPATH": str(ROOT),
    }
    return {"env": env, "db": db, "artifacts": artifacts, "log": root / "streamlit.log"}


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def grid_row(page, grid_index: int, row: int) -> None:
    """Tick the selection box of data row ``row`` of the ``grid_index``-th table on the page."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(grid_index)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 18)


def pick_run(page, run_id: int) -> None:
    pick = page.locator('[data-testid="stSelectbox"]', has_text="Run to review").locator("input")
    pick.click()
    pick.fill(f"run {run_id} ·")
    pick.press("Enter")
    page.get_by_text(f"Flagged queue of run {run_id}").wait_for()
    wait_idle(page)


def workspace(setting):
    from core.workspace.store import Workspace

    return Workspace.open(setting["db"])


def sender_domain_of(uuids, log_frame) -> set[str]:
    from ui.triage import sender_domain

    senders = log_frame.set_index("UUID").loc[list(uuids), "Sender"]
    return {sender_domain(s) for s in senders}


def test_triage_loop_survives_a_restart(setting, browser):
    from ui import state
    from ui.data import demo_log

    demo = demo_log(state.DEMO_ROWS, state.DEMO_SEED).frame
    step = "home"
    with dashboard(setting["env"], setting["log"]) as url:
        page = new_page(browser)
        try:
            page.goto(url)
            page.get_by_role("button", name=re.compile("Load demo data")).click()
            page.get_by_text(re.compile(r"demo data · 3,000 rows")).first.wait_for()
            wait_idle(page)

            step = "train"
            go(page, "Train")
            epochs = page.get_by_label("Epochs", exact=True)
            epochs.fill("2")
            epochs.press("Tab")
            page.get_by_label("Model name", exact=True).fill("review-model")
            page.get_by_label("Model name", exact=True).press("Tab")
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text(re.compile(r"Saved model review-model")).first.wait_for(timeout=TRAIN_WAIT)
            wait_idle(page, timeout=TRAIN_WAIT)

            step = "detect"
            go(page, "Detect")
            page.get_by_text("Flagged mail", exact=True).wait_for(timeout=300_000)
            wait_idle(page, timeout=300_000)
            flagged_before = int(metric(page, "Flagged").replace(",", ""))
            page.get_by_text("Recorded as run 1").first.wait_for()  # every scoring is a run
            wait_idle(page)
            shot(page, "01_detect_saved")
            (run1,) = workspace(setting).runs()
            assert (run1.n_flagged, run1.origin) == (flagged_before, "dashboard")

            step = "review"
            go(page, "Review")
            page.get_by_text("Flagged queue of run 1").wait_for()
            wait_idle(page)
            shot(page, "02_review_queue")
            queue = workspace(setting).flagged(1)
            top_uuid, top_sender = queue["UUID"].iloc[0], queue["Sender"].iloc[0]
            grid_row(page, 1, 0)  # grid 0 lists the runs; grid 1 is the queue
            page.get_by_text("Verdict for the 1 selected message(s)").wait_for()
            wait_idle(page)
            page.get_by_label("Note", exact=True).first.fill("known newsletter sender")
            page.get_by_label("Note", exact=True).first.press("Tab")
            wait_idle(page)
            page.get_by_role("button", name="Benign", exact=True).click()
            page.get_by_text("1 marked benign.").wait_for()
            wait_idle(page)
            row = workspace(setting).flagged(1).set_index("UUID").loc[top_uuid]
            assert (row["verdict"], row["verdict_note"], row["verdict_analyst"]) == (
                "benign",
                "known newsletter sender",
                "e2e-analyst",
            )
            shot(page, "03_review_benign")

            step = "allow"
            from ui.triage import sender_domain

            domain = sender_domain(top_sender)
            allow = page.get_by_role("button", name=f"Allow this sender domain ({domain})")
            if not allow.is_visible():  # the table's selection was cleared when its rows changed
                grid_row(page, 1, 0)
                wait_idle(page)
            allow.click()
            page.get_by_text(re.compile(rf"Rule 1 added: sender_domain {re.escape(domain)}")).wait_for()
            wait_idle(page)
            shot(page, "04_review_rule_added")

            step = "detect_again"
            go(page, "Detect")
            page.get_by_text(re.compile(r"rows above the threshold are suppressed by allow-list rules")).wait_for()
            wait_idle(page)
            flagged_after = int(metric(page, "Flagged").replace(",", ""))
            n_domain = int(queue["Sender"].map(sender_domain).eq(domain).sum())
            assert flagged_after == flagged_before - n_domain
            path = download(page, "Download flagged CSV", RESULTS / "review_flagged_after_rule.csv")
            flagged = pd.read_csv(path)
            assert len(flagged) == flagged_after
            assert domain not in sender_domain_of(flagged["UUID"], demo)
            page.get_by_text(re.compile("rows above the threshold are suppressed")).click()  # open the expander
            wait_idle(page)
            shot(page, "05_detect_suppressed")
            page.get_by_text("Recorded as run 2").first.wait_for()
            wait_idle(page)
            run2 = workspace(setting).run(2)
            assert (run2.n_flagged, run2.n_suppressed) == (flagged_after, n_domain)

            step = "export"
            go(page, "Review")
            page.get_by_text("Flagged queue of run 2").wait_for()
            wait_idle(page)
            ecs = download(page, "ECS NDJSON", RESULTS / "review_run2_ecs.ndjson")
            docs = [json.loads(line) for line in ecs.read_text(encoding="utf-8").splitlines()]
            assert len(docs) == n_domain + flagged_after
            suppressed = [d for d in docs if d.get("rule", {}).get("id") not in (None, "")]
            assert len(suppressed) == n_domain
            assert all(d["event"]["kind"] == "alert" and d["email"]["local_id"] for d in docs)
            shot(page, "06_review_run2")
        except Exception:
            shot(page, f"failure_{step}")
            raise
        finally:
            page.context.close()

    step = "restart"
    with dashboard(setting["env"], setting["log"]) as url:
        page = new_page(browser)
        try:
            page.goto(url + "/Review")
            page.get_by_text("Flagged queue of run 2").wait_for()
            wait_idle(page)
            pick_run(page, 1)
            assert metric(page, re.escape("Benign (false positives)")) == "1"
            page.get_by_text(re.compile(r"[\d,]+ flagged, 1 with a verdict")).wait_for()
            shot(page, "07_after_restart_run1")
        except Exception:
            shot(page, f"failure_{step}")
            raise
        finally:
            page.context.close()


def test_three_analysts_verdict_and_export_one_run_at_once(setting, browser):
    """Three sessions select different rows of run 1 and press their verdict buttons together;
    each then exports ECS. Every verdict is stored, audited and in the last export."""
    ws = workspace(setting)
    if not ws.runs():
        pytest.skip("needs the run recorded by test_triage_loop_survives_a_restart")
    before = {e.id for e in ws.audit(1)}
    queue = ws.flagged(1)
    with dashboard(setting["env"], setting["log"]) as url:
        pages = [new_page(browser) for _ in range(3)]
        try:
            for page in pages:
                page.goto(url + "/Review")
            for k, page in enumerate(pages):
                page.get_by_text("Flagged queue of run 2").wait_for()
                wait_idle(page)
                pick_run(page, 1)
                grid_row(page, 1, k + 1)  # rows 2-4: row 1 already has the walk's benign verdict
                page.get_by_text("Verdict for the 1 selected message(s)").wait_for()
                wait_idle(page)
                page.get_by_label("Note", exact=True).first.fill(f"analyst {k}")
                page.get_by_label("Note", exact=True).first.press("Tab")
                wait_idle(page)
            for page in pages:  # all three at once
                page.get_by_role("button", name="Confirmed", exact=True).click()
            for page in pages:
                page.get_by_text("1 marked confirmed.").wait_for()
                wait_idle(page)
            files = [
                download(page, "ECS NDJSON", RESULTS / f"review_concurrent_{k}.ndjson") for k, page in enumerate(pages)
            ]
            for k, page in enumerate(pages):
                shot(page, f"08_concurrent_{k}")
        except Exception:
            for k, page in enumerate(pages):
                shot(page, f"failure_concurrent_{k}")
            raise
        finally:
            for page in pages:
                page.context.close()
    stored = ws.flagged(1).set_index("UUID")
    chosen = queue["UUID"].iloc[1:4].tolist()
    assert stored.loc[chosen, "verdict"].tolist() == ["confirmed"] * 3
    assert sorted(stored.loc[chosen, "verdict_note"]) == ["analyst 0", "analyst 1", "analyst 2"]
    new = [e for e in ws.audit(1) if e.id not in before]
    assert sorted(e.entity_id for e in new) == sorted(f"1/{u}" for u in chosen)
    for path in files:  # each export came after all three writes: each has all three verdicts
        docs = {d["email"]["local_id"]: d for d in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
        assert len(docs) == len(queue) + ws.run(1).n_suppressed
        assert [docs[u]["labels"]["verdict"] for u in chosen] == ["confirmed"] * 3
        assert docs[queue["UUID"].iloc[0]]["labels"]["verdict"] == "benign"
