"""`bazaar serve --workers N`: N web processes and one worker process, each watched and restarted.

The supervisor (this process) binds the sockets and starts its children: web processes
running uvicorn's public `Server` on the socket it hands each, and `bazaar worker`. Every child
touches a heartbeat file each second from its event loop. Each check (five a second):

- a child that exited (crash, kill -9, SIGTERM from someone else) is reaped at once — no zombie —
  and started again after a backoff: 0.5 s, doubling per failure in a row up to 30 s, back to
  0.5 s once a run lasted a minute;
- a child that has started beating and then stays silent for `hang_seconds` is hung: killed, and
  restarted the same way;
- a child that has not beaten yet is starting up: it gets `startup_grace_seconds` (180 s) before
  it is judged, so a slow start on a busy machine is never mistaken for a hang (uvicorn's own
  supervisor pinged its workers after 5 s and replaced slow starters);
- a web process that exits with uvicorn's start-up failure code before ever beating cannot start
  (a bad setting): restarting it would fail the same way, so the whole server stops.

With SO_REUSEPORT (Linux) every web process listens on a socket of its own, so the kernel spreads new
connections over them; a process starts listening only once its application has started, and its
socket closes when it dies, so no connection waits on a process that is starting or dead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from bazaar.supervision import board, heartbeat

log = logging.getLogger("bazaar.supervision")
BACKLOG = 2048
STARTUP_FAILURE = 3  # uvicorn's exit code when the application cannot start


@dataclass(frozen=True)
class Policy:
    check_seconds: float = 0.2
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    healthy_after_seconds: float = 60.0  # a run this long resets the backoff
    startup_grace_seconds: float = 180.0
    hang_seconds: float = 30.0
    stop_seconds: float = 15.0  # SIGTERM, then this long, then SIGKILL

    def backoff(self, failures: int) -> float:
        return float(min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** max(0, failures - 1)))


class Runner(Protocol):
    """One running child process."""

    @property
    def pid(self) -> int | None: ...
    def exitcode(self) -> int | None:
        """None while running; reaps the process once it ended."""
        ...

    def signal(self, signum: int) -> None: ...


class CommandRunner:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._process = subprocess.Popen(argv, env=env)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def exitcode(self) -> int | None:
        return self._process.poll()

    def signal(self, signum: int) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signum)


class SpawnedRunner:
    def __init__(self, process: BaseProcess) -> None:
        self._process = process
        process.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def exitcode(self) -> int | None:
        if self._process.is_alive():  # is_alive() reaps an ended child
            return None
        code = self._process.exitcode
        return code if code is not None else -1

    def signal(self, signum: int) -> None:
        if self._process.pid is not None and self._process.exitcode is None:
            try:
                os.kill(self._process.pid, signum)
            except ProcessLookupError:
                pass


@dataclass
class Child:
    """A supervised child: how to start it, its heartbeat file, and what happened to it so far."""

    name: str
    start: Callable[[], Runner]
    heartbeat_file: Path
    stops_everything_on_startup_failure: bool = False
    runner: Runner | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    failures: int = 0  # in a row
    restarts: int = 0
    beaten: bool = field(default=False)

    def launch(self, now: float) -> None:
        heartbeat.forget(self.heartbeat_file)
        self.runner = self.start()
        self.started_at, self.restart_at, self.beaten = now, None, False
        log.info("started %s (pid %s)", self.name, self.runner.pid)


class Supervisor:
    def __init__(self, children: list[Child], *, policy: Policy | None = None) -> None:
        self.children = children
        self.policy = policy or Policy()
        self.stopping = False
        self.failed = False

    def request_stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> int:
        """Start every child and keep them running until SIGTERM/SIGINT; answers the exit status."""
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            now = time.monotonic()
            for child in self.children:
                child.launch(now)
            while not self.stopping:
                self.check(time.monotonic())
                time.sleep(self.policy.check_seconds)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.failed else 0

    def check(self, now: float) -> None:
        for child in self.children:
            if self.stopping:
                return
            self._check(child, now)

    def _check(self, child: Child, now: float) -> None:
        if child.runner is None:
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                child.launch(now)
            return
        code = child.runner.exitcode()
        if code is None:
            code = self._judge_liveness(child, now)
        if code is None:
            return
        ran = now - child.started_at
        if child.stops_everything_on_startup_failure and code == STARTUP_FAILURE and not child.beaten:
            log.error("%s cannot start (exit code %s); stopping", child.name, code)
            self.failed = self.stopping = True
            return
        child.failures = 1 if ran >= self.policy.healthy_after_seconds else child.failures + 1
        delay = self.policy.backoff(child.failures)
        log.warning(
            "%s (pid %s) ended with %s after %.1f s; restarting in %.1f s",
            child.name,
            child.runner.pid,
            code,
            ran,
            delay,
        )
        child.runner, child.restart_at = None, now + delay
        heartbeat.forget(child.heartbeat_file)

    def _judge_liveness(self, child: Child, now: float) -> int | None:
        """Kill a child that never came up within the grace, or whose heartbeat stopped; answers its code."""
        assert child.runner is not None
        silent = heartbeat.age(child.heartbeat_file)
        if silent is not None:
            child.beaten = True
        if not child.beaten:
            if now - child.started_at < self.policy.startup_grace_seconds:
                return None
            log.error(
                "%s sent no heartbeat within %.0f s of starting; killing it",
                child.name,
                self.policy.startup_grace_seconds,
            )
        elif silent is None or silent < self.policy.hang_seconds:
            return None
        else:
            log.error("%s has been silent for %.1f s; killing it", child.name, silent)
        child.runner.signal(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while (code := child.runner.exitcode()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return code if code is not None else -9

    def stop_all(self) -> None:
        running = [c for c in self.children if c.runner is not None]
        for child in running:
            assert child.runner is not None
            child.runner.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.policy.stop_seconds
        while time.monotonic() < deadline and any(c.runner.exitcode() is None for c in running if c.runner):
            time.sleep(0.05)
        for child in running:
            if child.runner is not None and child.runner.exitcode() is None:
                log.warning("%s did not stop within %.0f s; killing it", child.name, self.policy.stop_seconds)
                child.runner.signal(signal.SIGKILL)
                while child.runner.exitcode() is None:
                    time.sleep(0.01)
            heartbeat.forget(child.heartbeat_file)


# --- serve --workers N --------------------------------------------------------------------------


def bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT but not listening yet: the web process's server starts listening on it
    (asyncio does) only once the application has started, so the kernel never hands connections to a process
    that is still starting; and when the process dies its socket dies with it, so its share of new
    connections goes to the others at once instead of waiting in a dead process's backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def shared_socket(host: str, port: int) -> socket.socket:
    """Without SO_REUSEPORT: one listening socket that every web process accepts from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def run_web(
    options: dict[str, Any], sock: socket.socket, heartbeat_file: str, board_file: str = "", board_slot: int = 0
) -> None:
    """A web process: uvicorn's public Server on the socket the supervisor handed it."""
    import uvicorn

    os.environ["BAZAAR_HEARTBEAT_FILE"] = heartbeat_file  # read by the app's settings: it beats from its loop
    if board_file:  # where it publishes how many connections it serves (web/balance.py)
        os.environ["BAZAAR_WEB_BOARD_FILE"] = board_file
        os.environ["BAZAAR_WEB_BOARD_SLOT"] = str(board_slot)
    config = uvicorn.Config("bazaar.web.app:create_app", **options)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits with STARTUP_FAILURE when the lifespan fails
        raise SystemExit(exc.code) from None
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def serve(
    *,
    host: str,
    port: int,
    web_processes: int,
    uvicorn_options: dict[str, Any],
    run_dir: Path,
    with_worker: bool,
    policy: Policy | None = None,
) -> int:
    """Run `web_processes` web processes (and the worker) under a Supervisor until SIGTERM/SIGINT."""
    run_dir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port(host)
    shared = None if hasattr(socket, "SO_REUSEPORT") else shared_socket(host, port)
    worker_beat = run_dir / "worker.heartbeat"
    if with_worker:
        os.environ["BAZAAR_WORKER_HEARTBEAT_FILE"] = str(worker_beat)  # web processes check it in /readyz
    context = multiprocessing.get_context("spawn")
    children: list[Child] = []
    load_board = run_dir / f"web-{os.getpid()}.board"  # this supervisor's own (a node has a data dir of its own)
    board.create(load_board, web_processes)
    for index in range(web_processes):
        beat = run_dir / f"web-{index}.heartbeat"

        def start_web(beat: Path = beat, index: int = index) -> Runner:
            sock = shared or bound_socket(host, port)
            board.clear(load_board, index)  # what the slot's last process served died with it
            process = context.Process(
                target=run_web, args=(uvicorn_options, sock, str(beat), str(load_board), index), name="bazaar-web"
            )
            runner = SpawnedRunner(process)
            if sock is not shared:
                sock.close()  # the child has its own copy: the socket lives and dies with the child
            return runner

        children.append(Child(f"web {index}", start_web, beat, stops_everything_on_startup_failure=True))
    if with_worker:

        def start_worker() -> Runner:
            env = {**os.environ, "BAZAAR_HEARTBEAT_FILE": str(worker_beat), "BAZAAR_EMBEDDED_WORKERS": "false"}
            return CommandRunner([sys.executable, "-m", "bazaar.cli", "worker", "--no-migrate"], env)

        children.append(Child("worker", start_worker, worker_beat))
    log.info(
        "serving on http://%s:%d with %d web processes%s",
        host,
        port,
        web_processes,
        " and a worker" if with_worker else "",
    )
    try:
        return Supervisor(children, policy=policy).run()
    finally:
        if shared is not None:
            shared.close()
        load_board.unlink(missing_ok=True)  # its processes are gone (a supervisor killed -9 leaves a few bytes)
