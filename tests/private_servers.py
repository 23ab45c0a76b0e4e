"""Private Redis and PostgreSQL servers for tests and benchmarks that break a part: started on free ports
under a temporary directory, stopped, restarted or killed at will, and never the shared servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTGRES_USER = "postgres"  # initdb refuses to run as root; the server runs as this system user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 30.0, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'} within {timeout} s")


class PrivateRedis:
    """A redis-server that keeps nothing on disk (no RDB, no AOF), as many deployments run it;
    `appendonly=True` runs it with an AOF synced every second instead."""

    def __init__(self, directory: Path, *, port: int | None = None, appendonly: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--save", "", "--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.appendonly else ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self, *, kill: bool = True) -> None:
        """Stop the server; `kill` (SIGKILL) saves nothing, like a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def restart_empty(self) -> None:
        """Restart without saving: everything Redis held (streams, groups, caches) is gone."""
        self.stop(kill=True)
        if not self.appendonly:
            for leftover in self.directory.glob("*.rdb"):
                leftover.unlink()
        self.start()


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb + pg_ctl, run as the postgres user), trust auth on 127.0.0.1."""

    def __init__(self, directory: Path | None = None, *, port: int | None = None) -> None:
        # Its own directory under /tmp: the postgres user must be able to reach it (pytest's are root-only).
        self.directory = directory or Path(tempfile.mkdtemp(prefix="bazaar-pg-"))
        self.data = self.directory / "pgdata"
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout.decode(errors='replace')[-2000:]}")

    def init(self) -> PrivatePostgres:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.directory.chmod(0o755)
            shutil.chown(self.directory, POSTGRES_USER)
        self._as_postgres(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--no-locale"
        )
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB"
        (self.directory / "options").write_text(options)
        return self

    def start(self) -> PrivatePostgres:
        options = (self.directory / "options").read_text()
        log_file = str(self.directory / "pg.log")
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", log_file, "-w", "start")
        return self

    def stop(self, *, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash (recovery on start)."""
        if (self.data / "postmaster.pid").exists():
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, mode: str = "fast") -> None:
        self.stop(mode=mode)
        self.start()

    def destroy(self) -> None:
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
