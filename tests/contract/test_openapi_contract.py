"""The API against its own OpenAPI document, with schemathesis (issue 14): a short run of every operation as a
buyer and as a seller, on a served app with demo data, with every check and the coverage phase (each operation's
boundary and wrong-type values, undocumented methods): every answer documented (status, content type, body shape,
`Allow`), schema-valid data accepted and schema-invalid data refused, and nothing may answer 500. The long,
stateful run on both backends is bench/fuzz_api.py (figures in docs/RELIABILITY.md, "Hostile input")."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from bazaar.db.migrate import upgrade
from bazaar.seed.loader import seed_if_empty
from bazaar.settings import Settings
from bazaar.web.app import create_app

EXAMPLES = int(os.environ.get("BAZAAR_CONTRACT_EXAMPLES", "2"))
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The app with a small demo catalog on a real socket; (base URL, {role: bearer header})."""
    data = Path(tmp_path_factory.mktemp("contract"))
    config = Settings(
        data_dir=data, password_hash_profile="fast", rate_limits="off", access_log=False, log_level="ERROR",
        embedded_workers=True, seed_products_on_first_start=0,
    )  # fmt: skip
    upgrade(config)
    asyncio.run(seed_if_empty(config, products=40))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the app did not start"
    url = f"http://127.0.0.1:{port}"
    tokens = {}
    for role, email in (("buyer", "buyer@example.com"), ("seller", "seller@example.com")):
        r = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": "bazaar-demo"}, timeout=30)
        assert r.status_code == 200, r.text
        tokens[role] = {"Authorization": f"Bearer {r.json()['token']}"}
    yield url, tokens
    server.should_exit = True
    thread.join(timeout=20)


def schemathesis_command(url: str, token_header: str, *, examples: int, phases: str) -> list[str]:
    """Every check (schemathesis.toml says which operations refuse schema-valid data by rules JSON Schema cannot
    state); bench/fuzz_api.py runs the same with more examples and the stateful phase."""
    return [
        str(Path(sys.executable).parent / "st"), "--config-file", str(ROOT / "schemathesis.toml"), "run",
        f"{url}/openapi.json", "-H", token_header, "--checks", "all", "--exclude-path", "/api/v1/auth/logout",
        "--max-examples", str(examples), "--phases", phases, "--generation-deterministic", "--no-color",
    ]  # fmt: skip


@pytest.mark.parametrize("role", ["buyer", "seller"])
def test_every_operation_answers_what_the_document_says(served: tuple[str, dict[str, str]], role: str) -> None:
    url, tokens = served
    header = f"Authorization: {tokens[role]['Authorization']}"
    run = subprocess.run(
        schemathesis_command(url, header, examples=EXAMPLES, phases="examples,coverage,fuzzing"),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failure" not in run.stdout.split("SUMMARY")[-1].lower(), run.stdout[-3000:]
