"""Browser tests: a real `bazaar serve` on a free loopback port over a fresh, seeded SQLite data dir, driven by
Debian's Chromium through Playwright. Screenshots of every page land in var/screenshots/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
REQUIRE = os.environ.get("BAZAAR_TEST_REQUIRE_SERVICES", "") in {"1", "true", "yes"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"browser tests need {why} (BAZAAR_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(f"browser tests skipped: {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smtp() -> Iterator[Any]:
    """A real SMTP server the storefront's emails go to (what arrived: `smtp.inbox`)."""
    from tests.smtp_server import SmtpServer

    mail = SmtpServer()
    mail.start()
    yield mail
    mail.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: Any) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} (apt-get install chromium)")
    data = tmp_path_factory.mktemp("storefront-data")
    env = {
        **os.environ,
        "BAZAAR_SMTP_URL": smtp.url,
        "BAZAAR_MAIL_RETRY_BASE_SECONDS": "0.2",
        "BAZAAR_DATA_DIR": str(data),
        "BAZAAR_CAPTURE_DELAY_SECONDS": "0",
        "BAZAAR_EMBEDDED_WORKERS": "true",
        "BAZAAR_PASSWORD_HASH_PROFILE": "fast",
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_RATE_LIMITS": "off",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
    }
    for name in ("BAZAAR_DATABASE_URL", "BAZAAR_REDIS_URL", "BAZAAR_PAYMENT_PROVIDER_URL"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "bazaar.cli"]
    # The small demo catalog with its demo accounts, then the search index (as `bazaar seed` does).
    subprocess.run([*cli, "seed", "--products", "80", "--quiet"], env=env, check=True, capture_output=True)
    port = _free_port()
    env["BAZAAR_PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # links in emails lead back to this server
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded machine (CI beside other jobs) starts slowly
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {(data / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")  # closed before other tests: sync Playwright holds an event loop while it runs
def browser(server: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Saves a full-page screenshot per step, named by test and order: var/screenshots/<test>-NN-<step>.png."""

    def __init__(self, test: str) -> None:
        self.test, self.n = test, 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, step: str) -> None:
        self.n += 1
        page.screenshot(path=str(SCREENSHOTS / f"{self.test}-{self.n:02d}-{step}.png"), full_page=True)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name.removeprefix("test_"))


@pytest.fixture
def new_page(browser: Any, server: str) -> Iterator[Any]:
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(base_url=server, viewport={"width": 1100, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
