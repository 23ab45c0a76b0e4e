"""A minimal keep-alive HTTP/1.1 client for load generators: httpx costs 3-5 ms of CPU per request here, more than
the server, so the benchmarks speak the few lines of HTTP they need themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

# one(reader, writer, host, job) -> (status, body)
Job = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str, Any], Awaitable[tuple[int, bytes]]]


async def request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a kept-alive connection: answers the status and the body. When the server answers with
    `Connection: close` (a web process over its share of connections sheds one), the connection is closed here
    once the answer is read: callers open a new one when `writer.is_closing()`."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    if body or method in ("POST", "PUT", "PATCH"):
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    answer = await reader.readuntil(b"\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    length, chunked, closing = 0, False, False
    for line in answer.split(b"\r\n"):
        lowered = line.lower()
        if lowered.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
        elif lowered.startswith(b"transfer-encoding:") and b"chunked" in lowered:
            chunked = True
        elif lowered.startswith(b"connection:") and b"close" in lowered:
            closing = True
    if not chunked:
        content = await reader.readexactly(length)
    else:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        content = b"".join(parts)
    if closing:
        writer.close()
    return status, content


async def run_pool(
    base_url: str, jobs: list[Any], concurrency: int, one: Job
) -> tuple[list[tuple[float, int, bytes]], float]:
    """Run `one(reader, writer, host, job)` for every job over `concurrency` kept-alive connections."""
    host, port = base_url.removeprefix("http://").split(":")
    pending = list(reversed(jobs))
    results: list[tuple[float, int, bytes]] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while pending:
                job = pending.pop()
                started = time.perf_counter()  # a new connection's set-up counts in its first request's time
                if writer.is_closing():  # the server asked for a new connection
                    reader, writer = await asyncio.open_connection(host, int(port))
                try:
                    status, body = await one(reader, writer, host, job)
                except (OSError, asyncio.IncompleteReadError):  # the server closed this connection: reopen
                    status, body = 0, b""
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                results.append((time.perf_counter() - started, status, body))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return results, time.perf_counter() - started
