"""`serve --workers N` watches every process it starts: a dead or hung worker or web process is restarted
(with backoff), a slow start is not mistaken for a hang, and /readyz says "not ready" while the worker is
down (findings 2 and 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.supervision.supervisor import Child, CommandRunner, Policy, Runner, Supervisor
from tests.private_servers import free_port

BEATING = """
import sys, time
from pathlib import Path
from bazaar.supervision.heartbeat import beat
time.sleep(float(sys.argv[2]))
while True:
    beat(Path(sys.argv[1]))
    time.sleep(0.1)
"""


def _child(tmp_path: Path, name: str, *, slow_start: float = 0.0) -> Child:
    beat = tmp_path / f"{name}.heartbeat"

    def start() -> Runner:
        return CommandRunner([sys.executable, "-c", BEATING, str(beat), str(slow_start)], dict(os.environ))

    return Child(name, start, beat)


def _run_checks(supervisor: Supervisor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.check(time.monotonic())
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return False


def test_a_killed_child_is_reaped_and_restarted_and_a_hung_one_is_replaced(tmp_path: Path) -> None:
    policy = Policy(backoff_base_seconds=0.2, startup_grace_seconds=20, hang_seconds=1.5, stop_seconds=2)
    child = _child(tmp_path, "worker")
    supervisor = Supervisor([child], policy=policy)
    child.launch(time.monotonic())
    try:
        _run_checks(supervisor, 1.0)
        assert child.runner is not None and child.beaten
        first = child.runner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _run_checks(supervisor, 1.0)  # reaped at once, restarted after 0.2 s
        assert not _is_zombie(first)
        assert child.restarts == 1 and child.runner is not None and child.runner.pid != first

        hung = child.runner.pid
        assert hung is not None
        _run_checks(supervisor, 0.5)
        os.kill(hung, signal.SIGSTOP)  # alive but silent: its heartbeat stops
        _run_checks(supervisor, 3.0)
        assert child.restarts == 2 and child.runner is not None and child.runner.pid != hung
    finally:
        supervisor.stop_all()


def test_a_slow_start_is_not_killed_within_the_grace_period(tmp_path: Path) -> None:
    # uvicorn's supervisor pinged its workers after 5 s and replaced a web process that was still starting.
    policy = Policy(startup_grace_seconds=30, hang_seconds=1.0, stop_seconds=2)
    child = _child(tmp_path, "web", slow_start=2.5)
    supervisor = Supervisor([child], policy=policy)
    child.launch(time.monotonic())
    try:
        _run_checks(supervisor, 3.5)
        assert child.restarts == 0 and child.beaten
    finally:
        supervisor.stop_all()


def test_backoff_doubles_and_is_capped() -> None:
    policy = Policy(backoff_base_seconds=0.5, backoff_max_seconds=30)
    assert [policy.backoff(n) for n in (1, 2, 3, 8, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0]


# --- the real thing: bazaar serve --workers 2 --------------------------------------------------


def _children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == pid and " Z " not in stat:
            found[int(entry.name)] = cmdline
    return found


def _wait(predicate, seconds: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {
        **os.environ,
        "BAZAAR_DATA_DIR": str(tmp_path / "data"),
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_PASSWORD_HASH_PROFILE": "fast",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_WORKER_STALE_SECONDS": "2",
        "BAZAAR_SUPERVISOR_HANG_SECONDS": "5",
    }
    for name in ("BAZAAR_DATABASE_URL", "BAZAAR_REDIS_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bazaar.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _ready(base), 120, "the server is ready")
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _readyz(base: str) -> dict[str, object]:
    return dict(httpx.get(f"{base}/readyz", timeout=5).json())


@pytest.mark.slow
def test_serve_restarts_its_worker_and_web_processes_and_readyz_tells_the_truth(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    supervisor, base = served
    assert _readyz(base)["checks"]["worker"] == "ok"  # type: ignore[index]

    def worker_pid() -> int | None:
        return next((p for p, cmd in _children(supervisor.pid).items() if "bazaar.cli worker" in cmd), None)

    def web_pids() -> set[int]:
        return {p for p, cmd in _children(supervisor.pid).items() if "spawn_main" in cmd}

    first = _wait(worker_pid, 10, "a worker process")
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    second = _wait(lambda: (pid := worker_pid()) and pid != first and pid, 5, "a new worker within 5 s")
    _wait(lambda: _readyz(base)["checks"]["worker"] == "ok", 30, "the new worker beats")  # type: ignore[index]
    assert time.monotonic() - killed_at < 30

    os.kill(second, signal.SIGSTOP)  # hung: alive, silent
    _wait(lambda: _readyz(base)["status"] == "not_ready", 10, "/readyz says not ready while the worker is down")
    _wait(lambda: (pid := worker_pid()) and pid != second and pid, 15, "the hung worker is replaced")
    _wait(lambda: _ready(base), 30, "ready again")

    webs = _wait(lambda: len(pids := web_pids()) == 2 and pids, 10, "two web processes")
    victim = max(webs)
    os.kill(victim, signal.SIGKILL)
    _wait(lambda: victim not in web_pids() and len(web_pids()) == 2, 10, "the web process is replaced")
    for _ in range(20):  # every socket answers again
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200

    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    assert not _children(supervisor.pid)
