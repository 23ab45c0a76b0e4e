"""A web process serving more than its share of the node's connections asks the next clients it answers to
reconnect (Connection: close); within its share it never does; the load board's counts go stale and are
cleared (web/balance.py, supervision/board.py). The real processes: tests/faults/test_supervisor.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bazaar.supervision import board
from bazaar.supervision.board import LoadBoard
from bazaar.web.balance import ConnectionBalance


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _ask(balance: ConnectionBalance, port: int) -> bool:
    """One request from the client connection at `port`; answers whether the response closes it."""
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/healthz", "client": ("10.0.0.1", port), "headers": []}
    await balance(scope, receive, send)
    assert sent[1]["body"] == b"ok"  # answered as usual either way
    return (b"connection", b"close") in sent[0]["headers"]


@pytest.fixture
def boards(tmp_path: Path) -> tuple[LoadBoard, LoadBoard]:
    path = tmp_path / "web.board"
    board.create(path, 2)
    return LoadBoard(path, 0), LoadBoard(path, 1)


async def test_a_process_over_its_share_sheds_connections_until_it_is_within_it(
    boards: tuple[LoadBoard, LoadBoard],
) -> None:
    mine, other = boards
    balance = ConnectionBalance(_ok, board=mine, busy_from=1)  # as if every request found others in flight
    other.publish(3)
    # 4 here and 3 there: within half a connection of an even share (3.5), nobody is asked to leave.
    assert [await _ask(balance, port) for port in (1, 2, 3, 4)] == [False] * 4
    assert mine.counts() == [4, 3]
    # A fifth makes 5 of 8: over the share of 4 by more than half a connection, so it is asked to reconnect,
    # and so is the next new one; the connections kept are served as before.
    assert await _ask(balance, 5)
    assert mine.counts() == [4, 3]
    assert await _ask(balance, 6)
    assert [await _ask(balance, port) for port in (1, 2, 3, 4)] == [False] * 4
    # The other process took on more: this one is within its share again and keeps a new connection.
    other.publish(5)
    assert not await _ask(balance, 7)


async def test_one_process_alone_or_a_single_connection_is_never_shed(tmp_path: Path) -> None:
    path = tmp_path / "web.board"
    board.create(path, 1)
    alone = ConnectionBalance(_ok, board=LoadBoard(path, 0), busy_from=1)
    assert [await _ask(alone, port) for port in range(1, 20)] == [False] * 19

    board.create(path, 2)
    first = ConnectionBalance(_ok, board=LoadBoard(path, 0), busy_from=1)
    assert not await _ask(first, 1)  # 1 of 1: over an even share, but one connection is no imbalance


async def test_a_process_answering_one_request_at_a_time_sheds_nothing(boards: tuple[LoadBoard, LoadBoard]) -> None:
    """Light traffic: all connections on this process, none elsewhere, but no request ever waits on another."""
    mine, _ = boards
    balance = ConnectionBalance(_ok, board=mine)
    assert [await _ask(balance, port) for port in range(1, 10)] == [False] * 9
    assert mine.counts() == [9, 0]

    # Two requests at once: the one answered while the other is in flight is asked to reconnect.
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await _ok(scope, receive, send)

    busy = ConnectionBalance(slow, board=mine)
    waiting = asyncio.create_task(_ask(busy, 1))
    await asyncio.sleep(0)
    busy.app = _ok
    assert await _ask(busy, 2)
    release.set()
    assert not await waiting  # answered alone: 1 connection left here


async def test_a_quiet_connection_stops_counting_and_a_stale_slot_reads_as_empty(
    boards: tuple[LoadBoard, LoadBoard], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = boards
    balance = ConnectionBalance(_ok, board=mine, active_seconds=0.05)  # one request at a time: never sheds
    for port in (1, 2, 3):
        await _ask(balance, port)
    assert mine.counts()[0] == 3
    await asyncio.sleep(0.06)
    await _ask(balance, 4)  # the three before were quiet for longer than active_seconds
    assert mine.counts()[0] == 1

    other.publish(9)
    assert mine.counts() == [1, 9]
    monkeypatch.setattr(board, "STALE_MS", 0)  # a slot not written since: its process serves nobody now
    await asyncio.sleep(0.002)
    assert mine.counts() == [1, 0]


def test_the_supervisor_clears_a_slot_before_starting_its_process_again(tmp_path: Path) -> None:
    path = tmp_path / "web.board"
    board.create(path, 3)
    first, second = LoadBoard(path, 0), LoadBoard(path, 2)
    second.publish(7)
    assert first.counts() == [0, 0, 7]
    board.clear(path, 2)  # its process died; the new one starts from nothing
    assert first.counts() == [0, 0, 0]
    with pytest.raises(ValueError):
        LoadBoard(path, 3)
