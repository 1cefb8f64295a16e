"""End-to-end: the real app under ``streamlit run``, driven by headless Chromium (Playwright).

Flow: Home → Load demo data → Train (few epochs) → Detect (move the threshold, download the
flagged CSV) → Explore (the t-SNE scatter has points) → Models. Every page is screenshotted
into ``test-results/``. Skipped when /usr/bin/chromium is missing, unless CI=true.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.browser import RESULTS, ROOT, chromium, dashboard, go, metric, new_page, shot, sync_api, wait_idle

TRAIN_EPOCHS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("e2e-artifacts")
    env = {**os.environ, "EMAIL_AD_ARTIFACTS": str(artifacts), "PYTHONPATH": str(ROOT)}
    log_path = tmp_path_factory.mktemp("e2e-log") / "streamlit.log"
    with dashboard(env, log_path) as url:
        yield {"url": url, "artifacts": artifacts, "log": log_path}


@pytest.fixture(scope="module")
def browser_page():
    with chromium() as browser:
        page = new_page(browser, timeout_ms=60_000)
        yield page
        page.context.close()


def test_full_analyst_flow(server, browser_page):
    page = browser_page
    step = "home"
    try:
        page.goto(server["url"])
        page.get_by_role("button", name=re.compile("Load demo data")).wait_for()
        shot(page, "01_home_empty")
        page.get_by_role("button", name=re.compile("Load demo data")).click()
        page.get_by_text(re.compile(r"demo data · 3,000 rows")).first.wait_for(timeout=60_000)
        wait_idle(page)
        shot(page, "02_home_demo_loaded")

        step = "data"
        go(page, "Data")
        page.get_by_text("Validation report").wait_for()
        page.locator(".js-plotly-plot").nth(2).wait_for()
        shot(page, "03_data")

        step = "train"
        go(page, "Train")
        # First a long run that the analyst stops: it still saves a usable model.
        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill("300")
        epochs.press("Tab")
        page.get_by_label("Model name", exact=True).fill("e2e-stopped")
        page.get_by_label("Model name", exact=True).press("Tab")
        page.get_by_role("button", name="Train", exact=True).click()
        # The final fit starts after the screening fit and its scoring of every training row:
        # seconds on a quiet machine, several minutes inside a busy server (see docs/performance.md).
        page.get_by_text(re.compile(r"Epoch [1-9]\d*/300")).first.wait_for(timeout=900_000)
        page.wait_for_timeout(1500)  # let the live loss curve draw a few points
        shot(page, "04_train_running")
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_text(
            re.compile(r"Saved model e2e-stopped after \d+ of 300 epochs \(stopped early\)")
        ).first.wait_for(timeout=600_000)
        wait_idle(page)
        shot(page, "04b_train_stopped")
        assert (server["artifacts"] / "e2e-stopped" / "metadata.json").is_file()

        epochs = page.get_by_label("Epochs", exact=True)
        epochs.fill(str(TRAIN_EPOCHS))
        epochs.press("Tab")
        page.get_by_label("Model name", exact=True).fill("e2e-model")
        page.get_by_label("Model name", exact=True).press("Tab")
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text(re.compile(r"Saved model e2e-model")).first.wait_for(timeout=600_000)
        wait_idle(page)
        page.locator(".js-plotly-plot").nth(1).wait_for()
        shot(page, "05_train_done")
        assert (server["artifacts"] / "e2e-model" / "metadata.json").is_file()

        step = "detect"
        go(page, "Detect")
        page.get_by_text("Flagged mail", exact=True).wait_for(timeout=120_000)
        wait_idle(page)
        before = int(metric(page, "Flagged").replace(",", ""))
        shot(page, "06_detect_model_threshold")
        threshold = float(metric(page, "Threshold"))
        number = page.get_by_label("Exact value", exact=True)
        number.fill(f"{threshold * 0.8:.4f}")
        number.press("Enter")
        page.wait_for_function(
            "(before) => { const m = [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
            ".find(e => e.innerText.startsWith('Flagged\\n') || e.innerText.startsWith('Flagged'));"
            " return m && parseInt(m.querySelector('[data-testid=\"stMetricValue\"]').innerText"
            ".replace(/,/g, '')) !== before; }",
            arg=before,
            timeout=30_000,
        )
        wait_idle(page)
        after = int(metric(page, "Flagged").replace(",", ""))
        assert after > before, (before, after)
        shot(page, "07_detect_lower_threshold")

        with page.expect_download() as info:
            page.get_by_role("button", name="Download flagged CSV").click()
        path = RESULTS / "flagged.csv"
        info.value.save_as(path)
        flagged = pd.read_csv(path)
        assert len(flagged) == after
        check_download(flagged, server["artifacts"])

        # Selecting a flagged row shows its per-field explanation.
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)  # first data row's selection cell
        page.get_by_text("Never seen in training").wait_for(timeout=30_000)
        wait_idle(page)
        assert page.locator(".js-plotly-plot").count() >= 2
        shot(page, "07b_detect_row_explained")

        step = "explore"
        go(page, "Explore")
        page.locator(".js-plotly-plot").first.wait_for(timeout=240_000)
        wait_idle(page, timeout=240_000)
        n_points = page.evaluate(
            "() => { const gd = document.querySelector('.js-plotly-plot');"
            " return gd && gd._fullData ? gd._fullData.reduce((n, t) => n + (t._length || 0), 0) : 0; }"
        )
        assert n_points > 100
        shot(page, "08_explore")

        # A lasso over the middle of the map lists the rows inside it.
        plot = page.locator(".js-plotly-plot .nsewdrag").first
        b = plot.bounding_box()
        corners = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75), (0.25, 0.3)]
        page.mouse.move(b["x"] + b["width"] * 0.25, b["y"] + b["height"] * 0.25)
        page.mouse.down()
        for fx, fy in corners:
            page.mouse.move(b["x"] + b["width"] * fx, b["y"] + b["height"] * fy, steps=8)
        page.mouse.up()
        page.get_by_text(re.compile(r"Selected rows \(\d+")).wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, "08b_explore_lasso")

        step = "models"
        go(page, "Models")
        page.get_by_text("e2e-model").first.wait_for()
        page.locator(".js-plotly-plot").nth(1).wait_for()  # two loss curves side by side
        shot(page, "09_models")
        wait_idle(page)
        pick = page.locator('[data-testid="stSelectbox"]', has_text="Model to delete").locator("input")
        pick.click()
        pick.fill("e2e-stopped")  # type to filter, Enter picks the match
        pick.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Delete…").click()
        page.get_by_role("button", name="Yes, delete").click()
        page.get_by_text("Deleted model e2e-stopped").wait_for()
        wait_idle(page)
        sync_api.expect(page.get_by_role("button", name="Yes, delete")).to_have_count(0)
        assert not (server["artifacts"] / "e2e-stopped").exists()
        shot(page, "10_models_deleted")
    except Exception:
        shot(page, f"failure_{step}")
        raise


def check_download(flagged: pd.DataFrame, artifacts: Path) -> None:
    """The flagged CSV's UUIDs are demo-log rows, and exactly the highest-error ones."""
    from core.artifacts import load_bundle
    from core.scoring import ERROR, UUID, score_log
    from ui import state
    from ui.data import demo_log

    log = demo_log(state.DEMO_ROWS, state.DEMO_SEED)
    assert set(flagged[UUID]) <= set(log.frame[UUID])
    scores = score_log(load_bundle("e2e-model", artifacts), log)
    top = scores.sort_values(ERROR, ascending=False).head(len(flagged))
    # Errors in the file are rounded to 6 significant digits; compare sets, allowing a tie at the edge.
    assert len(set(flagged[UUID]) & set(top[UUID])) >= len(flagged) - 1
    assert flagged[ERROR].is_monotonic_decreasing
    assert list(flagged.columns) == [UUID, ERROR, "top_field", "reason"]


def test_upload_bad_file_and_column_mapping(server, browser_page, tmp_path):
    """The real uploader: a PNG is refused with a plain message; other headers get the mapping form."""
    page = browser_page
    try:
        page.goto(server["url"] + "/Data")
        uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
        uploader.wait_for(state="attached")

        png = tmp_path / "screenshot.csv"
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        uploader.set_input_files(str(png))
        page.get_by_text(re.compile("looks like a PNG image")).wait_for()
        wait_idle(page)
        sync_api.expect(page.get_by_role("button", name="Read with this mapping")).to_have_count(0)
        shot(page, "11_data_bad_upload")
        page.get_by_role("button", name="Remove screenshot.csv").click()  # the uploader keeps files
        wait_idle(page)

        frame = pd.DataFrame(
            {
                "id": [f"m{i}" for i in range(40)],
                "to": ["ann@corp.example"] * 40,
                "from": [f"user{i % 5}@partner.example" for i in range(40)],
                "title": [f"Weekly report {i}" for i in range(40)],
                "date": pd.date_range("2026-01-05 08:00", periods=40, freq="37min").strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        renamed = tmp_path / "gateway_export.csv"
        frame.to_csv(renamed, index=False)
        uploader.set_input_files(str(renamed))
        page.get_by_text(re.compile("missing column")).wait_for()
        page.get_by_role("button", name="Read with this mapping").wait_for()
        wait_idle(page)
        shot(page, "12_data_mapping_form")
        page.get_by_role("button", name="Read with this mapping").click()
        page.get_by_text("Validation report").wait_for()
        wait_idle(page)
        sync_api.expect(page.get_by_text(re.compile("missing column"))).to_have_count(0)
        assert metric(page, "Rows") == "40"
        page.locator(".js-plotly-plot").nth(2).wait_for()
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        shot(page, "13_data_mapped")
    except Exception:
        shot(page, "failure_upload")
        raise


HOSTILE = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '=HYPERLINK("http://evil.example")',
    "\u202egpj.exe urgent",
]


def test_hostile_subjects_and_names_stay_text(server, browser_page, tmp_path):
    """Subjects and display names carrying HTML/script are shown as text on every page."""
    from core.artifacts import list_bundles, save_bundle
    from core.loading import read_log
    from core.model import AutoencoderDetector

    rows = 120
    frame = pd.DataFrame(
        {
            "UUID": [f"h{i}" for i in range(rows)],
            "Recipient": [f"user{i % 7}@corp.example" for i in range(rows)],
            "Sender": [f'"{HOSTILE[i % 4]}" <sender{i % 9}@partner.example>' for i in range(rows)],
            "Subject": [f"{HOSTILE[i % 4]} report {i % 11}" for i in range(rows)],
            "Time Processed": pd.date_range("2026-03-02 08:00", periods=rows, freq="23min").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        }
    )
    path = tmp_path / "hostile.csv"
    frame.to_csv(path, index=False)
    if not list_bundles(server["artifacts"]):
        log = read_log(path)
        save_bundle(AutoencoderDetector(epochs=2, batch_size=32).fit(log.frame), server["artifacts"], name="hostile")

    page = browser_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(server["url"] + "/Data")
        uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
        uploader.wait_for(state="attached")
        uploader.set_input_files(str(path))
        page.get_by_text("Validation report").wait_for()
        wait_idle(page)
        shot(page, "14_hostile_data")
        for label in ("Detect", "Explore"):
            go(page, label)
            page.locator(".js-plotly-plot").first.wait_for()
            page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the subjects' table
            wait_idle(page)
            shot(page, f"15_hostile_{label.lower()}")
        injected = page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length")
        assert page.evaluate("() => window.__xss === undefined"), "a script from the data ran"
        assert injected == 0 and dialogs == []
    except Exception:
        shot(page, "failure_hostile")
        raise


def test_oversize_upload_gets_a_clear_message(tmp_path_factory, browser_page, tmp_path):
    """The upload limit (``server.maxUploadSize``, 1024 MB in .streamlit/config.toml) refuses
    larger files with a message; shown here with the limit lowered to 1 MB for a small file."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= 200
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMAIL_AD_ARTIFACTS": str(tmp_path_factory.mktemp("oversize"))}
    log_path = tmp_path_factory.mktemp("oversize-log") / "streamlit.log"
    page = browser_page
    with dashboard(env, log_path, "--server.maxUploadSize", "1") as url:
        try:
            big = tmp_path / "big_export.csv"
            big.write_text(
                "UUID,Recipient,Sender,Subject,Time Processed\n"
                + "u,a@b.example,c@d.example,hello,2026-01-01T00:00:00Z\n" * 40_000
            )
            page.goto(url + "/Data")
            uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
            uploader.wait_for(state="attached")
            uploader.set_input_files(str(big))
            page.get_by_text(re.compile(r"must be 1(\.0)?\s?MB or smaller", re.I)).wait_for(timeout=30_000)
            page.get_by_text(re.compile("up to 1 MB per file.*was refused")).wait_for()
            shot(page, "16_oversize_upload")
            sync_api.expect(page.get_by_text("Validation report")).to_have_count(0)
        except Exception:
            shot(page, "failure_oversize")
            raise
