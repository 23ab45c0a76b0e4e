"""`bazaar serve --workers N`: uvicorn's worker supervisor, with one listening socket per worker.

With one shared socket, the worker whose event loop wakes first accepts a whole burst of new
connections: 16 benchmark connections were seen split 16/0, 15/1 or 14/2 between two workers as
often as 8/8, and one process then served nearly all of them while the other idled. Here, on
systems with SO_REUSEPORT (Linux), every worker listens on a socket of its own bound to the same
address, and the kernel spreads new connections over them by a hash of the client's address.
Restarts and health checks are uvicorn's; a replaced worker takes over its predecessor's socket.
"""

from __future__ import annotations

import logging
import socket

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("bazaar.web")
BACKLOG = 2048


def can_reuse_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def reuse_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address (port 0: the port the first one was given)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class PerWorkerSockets(Multiprocess):
    """uvicorn's Multiprocess, except that worker i is given only socket i."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=sockets)

    def _start(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(i) for i in range(self.processes_num)]

    def restart_all(self) -> None:
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            old.terminate()
            old.join()
            self.processes[index] = self._start(index)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting would fail the same way
                log.error("web worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning("web worker %s died; starting another", process.pid)
            self.processes[index] = self._start(index)


def serve_workers(config: Config) -> None:
    sockets = reuse_port_sockets(config.host, config.port, config.workers)
    log.info("serving on http://%s:%d with %d workers", config.host, sockets[0].getsockname()[1], config.workers)
    try:
        PerWorkerSockets(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
