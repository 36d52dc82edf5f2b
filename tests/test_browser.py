"""Real-browser checks in headless Chromium (Debian's package), driven by Playwright."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.app import EXAMPLES_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_upload_shows_label_and_heatmap(browser):
    from demo.app import demo

    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files(str(EXAMPLES_DIR / "astronaut.jpg"))
        page.locator("#message").get_by_text("Found 1 face").wait_for(timeout=60_000)
        page.locator("#gradcam img").first.wait_for(timeout=30_000)
        page.locator("#chart .js-plotly-plot").first.wait_for(timeout=30_000)
        assert page.locator("#annotated img").count() >= 1
        text = page.locator("#message").inner_text()
        assert any(label in text for label in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    finally:
        demo.close()


def test_dashboard_shows_the_confusion_matrix(browser):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        deadline = time.time() + 60
        while True:
            try:
                page.goto(f"http://127.0.0.1:{port}/confusion", timeout=5_000)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        page.get_by_text("Confusion matrix").first.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard_confusion.png"), full_page=True)
    finally:
        server.terminate()
        server.wait(timeout=20)
