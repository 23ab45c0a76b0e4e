"""The web server's HTTP protocol: one write per response, and every kind of response still complete and correct."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bazaar.web.http_protocol import OneWriteHttpToolsProtocol

BODY = b"x" * 20_000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/echo":  # reads the whole request body first (Expect: 100-continue waits for this)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/not-modified":
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", b'"1"')]})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/stream":  # no length: chunked, in several body messages
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"ab", b"cd", b""):
            await send({"type": "http.response.body", "body": part, "more_body": part != b""})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(BODY))]})
        await send({"type": "http.response.body", "body": BODY})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = int(s.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=free, http=OneWriteHttpToolsProtocol, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield free
    server.should_exit = True
    thread.join(timeout=10)


def _read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    if b"transfer-encoding: chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest += conn.recv(65536)
        return head, rest
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head, rest


def test_keep_alive_responses_arrive_whole_head_and_body_in_one_write(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for _ in range(3):
            conn.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.05)  # let the whole response land before reading
            first = conn.recv(1 << 20)
            assert first.startswith(b"HTTP/1.1 200") and first.endswith(BODY[-100:])  # one segment
            head, body = first.split(b"\r\n\r\n", 1)
            assert body == BODY


def test_expect_100_continue_is_answered_before_the_body_is_sent(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        conn.settimeout(5)
        interim = conn.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        conn.sendall(b"hello")
        head, body = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello"


def test_bodyless_and_chunked_responses_complete(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        conn.sendall(b"GET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 304") and body == b""
        conn.sendall(b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
        head = conn.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 200") and body == b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"


def test_pipelined_requests_get_their_responses_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        conn.sendall(b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"\r\n\r\n") < 2:
            data += conn.recv(65536)
        first, second = data.split(b"\r\n\r\n")[:2]
        assert first.startswith(b"HTTP/1.1 200") and b"content-length: 20000" in first.lower()
        assert second.startswith(b"HTTP/1.1 304")


async def test_many_concurrent_clients(port: int) -> None:
    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        return data.split(b"\r\n\r\n", 1)[1]

    assert all(body == BODY for body in await asyncio.gather(*(one() for _ in range(32))))
