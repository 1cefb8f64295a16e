"""What every browser test shares: Debian's Chromium (skip without it, fail under CI=true), the
dashboard under ``streamlit run`` on a free port, pages, screenshots and Streamlit waits.

Importing this module from a test module skips that module when /usr/bin/chromium or
Playwright is missing (unless ``CI=true``: then the run fails, as the browser tests must run in CI);
``bench.speed`` imports it only after finding Chromium.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{CHROMIUM} is missing; the browser test must run in CI (apt-get install chromium).", pytrace=False
        )
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser test.",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int, *extra_args: str) -> list[str]:
    """``streamlit run dashboard.py`` headless on 127.0.0.1:``port`` (run it from ROOT)."""
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    return [*command, *extra_args]


@contextlib.contextmanager
def dashboard(env: dict, log_path: Path, *extra_args: str, port: int | None = None) -> Iterator[str]:
    """``streamlit run dashboard.py`` on 127.0.0.1 (a free port unless given) until the block
    ends; yields its URL. ``extra_args`` go to ``streamlit run`` (e.g. ``--secrets.files``)."""
    port = port or free_port()
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with open(log_path, "a") as log_file:
        proc = subprocess.Popen([*command, *extra_args], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while time.time() < deadline and proc.poll() is None:
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"streamlit did not start; log: {Path(log_path).read_text()[-2000:]}")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def chromium() -> Iterator:
    """Debian's Chromium under Playwright, headless."""
    RESULTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, timeout_ms: int = 90_000):
    """A page in a context of its own (its own session and cookies), downloads allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    return page


def shot(page, name: str) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main container, so the
    viewport is stretched to the content's height for the shot and then restored."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        " return Math.max(m.scrollHeight, 800); }"
    )
    try:
        page.set_viewport_size({"width": 1280, "height": min(int(height) + 40, 8000)})
        page.wait_for_timeout(700)  # let plotly re-layout
        page.screenshot(path=str(RESULTS / f"{name}.png"))
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})


def wait_idle(page, timeout: float = 300_000) -> None:
    """Until Streamlit has finished running the script (no 'Running…' status widget)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def go(page, label: str) -> None:
    """Navigate inside the app (keeps the session) via the sidebar page list."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=re.compile(rf"^{label}$", re.I)).first.click()
    wait_idle(page)


def metric(page, label: str) -> str:
    box = page.locator(
        '[data-testid="stMetric"]',
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^{label}$")),
    )
    return box.locator('[data-testid="stMetricValue"]').first.inner_text()


def download(page, button: str, path: Path) -> Path:
    """Click a download button and save what arrives at ``path``."""
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=button, exact=True).click()
    info.value.save_as(path)
    return path
