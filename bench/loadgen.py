"""Shared benchmark plumbing: start and stop real server processes, and drive them with wrk or a lean asyncio client.

The asyncio client speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) to stay cheap
next to the server on a small machine; wrk is used for fixed-duration runs when it is installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def bench_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BAZAAR_DATA_DIR": str(data_dir),
            "BAZAAR_RATE_LIMITS": "off",
            "BAZAAR_ACCESS_LOG": "false",
            "BAZAAR_LOG_LEVEL": "WARNING",
            "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        }
    )
    env.pop("BAZAAR_DATABASE_URL", None)
    env.pop("BAZAAR_REDIS_URL", None)
    env.update(extra)
    return env


class Server:
    """A server process in its own process group, stopped with everything it started."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str = "/healthz", timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        raise TimeoutError(f"server on port {self.port} not ready after {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return bytes(r.read())


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rps": round(self.rps, 1)}


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(round(q / 100 * (len(sorted_ms) - 1))))]


async def _client(port: int, queue: asyncio.Queue[str], latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                path = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            if writer.is_closing():  # the server asked for a new connection (Connection: close)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length, closing = 0, False
            for line in head.split(b"\r\n"):
                lowered = line.lower()
                if lowered.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lowered.startswith(b"connection:") and b"close" in lowered:
                    closing = True
            await reader.readexactly(length)
            if closing:
                writer.close()
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def run_paths(port: int, paths: list[str], concurrency: int) -> LoadResult:
    """Send every path once, `concurrency` at a time over keep-alive connections; latency per request."""

    async def main() -> LoadResult:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for p in paths:
            queue.put_nowait(p)
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        await asyncio.gather(*(_client(port, queue, latencies, errors) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        lat = sorted(latencies)
        return LoadResult(
            requests=len(lat),
            errors=len(errors),
            seconds=elapsed,
            p50_ms=round(statistics.median(lat), 2),
            p90_ms=round(_percentile(lat, 90), 2),
            p99_ms=round(_percentile(lat, 99), 2),
            max_ms=round(lat[-1], 2),
            tool="asyncio",
        )

    return asyncio.run(main())


WRK_SCRIPT = r"""
local paths = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  n = math.random(#paths)
end
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def run_for(port: int, paths: list[str], *, concurrency: int, seconds: int, threads: int = 2) -> LoadResult:
    """Load for a fixed time, cycling through `paths`: wrk when installed, else the asyncio client."""
    wrk = shutil.which("wrk")
    if wrk is None:
        cycle = (paths * (1 + 4000 * seconds // max(1, len(paths))))[: 4000 * seconds]
        return run_paths(port, cycle, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(WRK_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        out = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
                "--",
                str(listing),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    data = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return LoadResult(
        requests=data["requests"],
        errors=data["errors"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        tool="wrk",
    )


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
