"""Take docs/dashboard.png: the dashboard of the example, as `make run` serves it, at 1280 px.

`make docs-screenshot` runs it. It starts `gateway serve` with the example's routes file and
default settings (an admin token of its own; the apps' database and the parity ledger in a
temporary folder), sends the example's requests for a while, so that every route of the table
has figures and trend lines, then opens `/_gateway/` in Debian's headless chromium, driven by
Playwright as tests/dashboard does, and saves the top of the page.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "docs" / "dashboard.png"
TOKEN = "docs-screenshot-token"
WIDTH, HEIGHT = 1280, 900
TRAFFIC_SECONDS = 50.0
# The example's requests (the quick start's curl lines), each with the token of a demo user.
REQUESTS = [
    ("/health", None),
    ("/api/me", "agent-token"),
    ("/api/me", "customer-token"),
    ("/api/tickets/1", "agent-token"),
    ("/api/tickets/2", "admin-token"),
    ("/api/tickets", "customer-token"),
    ("/api/tickets", "agent-token"),
    ("/api/tickets", "admin-token"),
    ("/api/tickets/1/comments", "agent-token"),
    ("/api/users", "admin-token"),
    ("/api/tickets/export.csv", "agent-token"),
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gateway serve exited with {process.returncode} before it was ready")
        try:
            if httpx.get(base + "/_gateway/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"gateway serve was not ready after {timeout:.0f} s")


def send_traffic(base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=10.0) as client:
        while time.monotonic() < deadline:
            for path, token in REQUESTS:
                client.get(path, headers={"X-Token": token} if token else {})
            time.sleep(0.05)


def screenshot(base: str, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"{base}/_gateway/#token={TOKEN}")
            page.locator('#rows tr[data-route="/api/tickets"]').wait_for()
            # Some history first, so that the trend lines have a shape.
            page.wait_for_timeout(15_000)
            page.screenshot(path=str(IMAGE))
        finally:
            browser.close()


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not on PATH: apt-get install chromium (or make system-deps)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="docs-screenshot-") as folder:
        env = {
            **os.environ,
            "GATEWAY_ADMIN_TOKEN": TOKEN,
            "GATEWAY_DATA_DIR": folder,
            "GATEWAY_ACCESS_LOG": "false",
            "HELPDESK_DATABASE_URL": f"sqlite:///{folder}/helpdesk.db",
        }
        gateway = str(Path(sys.executable).parent / "gateway")
        process = subprocess.Popen(
            [gateway, "serve", "--port", str(port), "--routes-file", "config/routes.yaml"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_ready(base, process)
            # Traffic all along: some before the page opens, the rest while it fills its charts.
            sender = threading.Thread(target=send_traffic, args=(base, TRAFFIC_SECONDS))
            sender.start()
            time.sleep(TRAFFIC_SECONDS / 2)
            try:
                screenshot(base, chromium)
            finally:
                sender.join()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(f"wrote {IMAGE.relative_to(REPO)} ({WIDTH} px wide)")


if __name__ == "__main__":
    main()
