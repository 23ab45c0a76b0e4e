"""A busy web process serving more than its share of the node's connections asks the next clients it answers to
reconnect (Connection: close); within its share, alone on the board, or answering one request at a time it never
does; connections that end anyway are left alone; the load board's slots go absent when not written and are
cleared (web/balance.py, supervision/board.py). The real processes: tests/faults/test_supervisor.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bazaar.supervision import board
from bazaar.supervision.board import LoadBoard
from bazaar.web.balance import ConnectionBalance, ConnectionShare
from bazaar.web.http_protocol import CONNECTION


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _ask(balance: ConnectionBalance, connection: int, *, headers: Any = (), version: str = "1.1") -> bool:
    """One request on `connection`; answers whether the response closes it."""
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http", "http_version": version, "method": "GET", "path": "/healthz",
        "client": ("203.0.113.9", 0), "headers": list(headers), CONNECTION: connection,
    }  # fmt: skip
    await balance(scope, receive, send)
    assert sent[1]["body"] == b"ok"  # answered as usual either way
    return sum(1 for name, _ in sent[0]["headers"] if name == b"connection") == 1 and (
        (b"connection", b"close") in sent[0]["headers"]
    )


@pytest.fixture
def boards(tmp_path: Path) -> tuple[LoadBoard, LoadBoard]:
    path = tmp_path / "web.board"
    board.create(path, 2)
    return LoadBoard(path, 0), LoadBoard(path, 1)


def _busy_share(mine: LoadBoard, **options: Any) -> ConnectionShare:
    """As if every request found another in flight, and without the pause between sheds."""
    return ConnectionShare(mine, busy_from=1, shed_interval=0, **options)


async def test_a_process_over_its_share_sheds_connections_until_it_is_within_it(
    boards: tuple[LoadBoard, LoadBoard],
) -> None:
    mine, other = boards
    balance = ConnectionBalance(_ok, share=_busy_share(mine))
    other.publish(3)
    # 4 here and 3 there: as even as 7 can be split, nobody is asked to leave.
    assert [await _ask(balance, c) for c in (1, 2, 3, 4)] == [False] * 4
    assert mine.counts() == [4, 3]
    # A fifth makes 5 of 8: more than the 4 an even split gives, so it is asked to reconnect, and so is the next
    # new one; the connections kept are served as before.
    assert await _ask(balance, 5)
    assert mine.counts() == [4, 3]
    assert await _ask(balance, 6)
    assert [await _ask(balance, c) for c in (1, 2, 3, 4)] == [False] * 4
    # The other process took on more: this one is within its share again and keeps a new connection.
    other.publish(5)
    assert not await _ask(balance, 7)


async def test_the_most_even_split_of_three_is_stable(tmp_path: Path) -> None:
    """16 over three processes: 6/5/5 is as even as it gets, and the process with 6 keeps them; 7/5/4 is not."""
    path = tmp_path / "web.board"
    board.create(path, 3)
    mine, second, third = LoadBoard(path, 0), LoadBoard(path, 1), LoadBoard(path, 2)
    balance = ConnectionBalance(_ok, share=_busy_share(mine))
    second.publish(5)
    third.publish(5)
    assert [await _ask(balance, c) for c in range(1, 7)] == [False] * 6
    third.publish(4)
    assert await _ask(balance, 7)
    assert mine.counts() == [6, 5, 4]


async def test_a_process_sheds_nothing_while_a_sibling_is_absent(boards: tuple[LoadBoard, LoadBoard]) -> None:
    """Its sibling is starting, restarting or hung (not publishing): a client sent to reconnect could be dealt to
    it and wait there, so nobody is."""
    mine, _ = boards
    balance = ConnectionBalance(_ok, share=_busy_share(mine))
    assert [await _ask(balance, c) for c in range(1, 20)] == [False] * 19
    assert mine.counts() == [19, None]


async def test_a_process_answering_one_request_at_a_time_sheds_nothing(boards: tuple[LoadBoard, LoadBoard]) -> None:
    """Light traffic: many connections here and none on the other process, but no request waits on another."""
    mine, other = boards
    other.publish(0)
    balance = ConnectionBalance(_ok, share=ConnectionShare(mine, shed_interval=0))
    assert [await _ask(balance, c) for c in range(1, 10)] == [False] * 9
    assert mine.counts() == [9, 0]

    # Two requests at once: the one answered while the other is in flight is asked to reconnect.
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await _ok(scope, receive, send)

    busy = ConnectionBalance(slow, share=balance.share)
    waiting = asyncio.create_task(_ask(busy, 1))
    await asyncio.sleep(0)
    busy.app = _ok
    assert await _ask(busy, 2)
    release.set()
    assert not await waiting  # answered alone


async def test_sheds_are_spaced(boards: tuple[LoadBoard, LoadBoard]) -> None:
    mine, other = boards
    other.publish(0)
    balance = ConnectionBalance(_ok, share=ConnectionShare(mine, busy_from=1, shed_interval=60))
    assert [await _ask(balance, c) for c in range(1, 6)] == [False, True, False, False, False]


async def test_connections_that_end_anyway_are_not_counted_or_shed(boards: tuple[LoadBoard, LoadBoard]) -> None:
    mine, other = boards
    other.publish(0)
    balance = ConnectionBalance(_ok, share=_busy_share(mine))
    assert not await _ask(balance, 1)
    assert not await _ask(balance, 2, headers=[(b"connection", b"close")])
    assert not await _ask(balance, 3, version="1.0")
    assert mine.counts() == [1, 0]

    async def keeps(scope: Any, receive: Any, send: Any) -> None:  # the response says already
        await send({"type": "http.response.start", "status": 200, "headers": [(b"connection", b"keep-alive")]})
        await send({"type": "http.response.body", "body": b"ok"})

    assert not await _ask(ConnectionBalance(keeps, share=balance.share), 4)


async def test_a_request_without_the_protocols_connection_name_is_not_balanced(
    boards: tuple[LoadBoard, LoadBoard],
) -> None:
    """Behind a trusted proxy `client` is the forwarded address, one for every connection of a user: only the
    protocol's name for the connection tells them apart, and without it nothing is counted."""
    mine, other = boards
    other.publish(0)
    balance = ConnectionBalance(_ok, share=_busy_share(mine))
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    for _ in range(5):
        await balance({"type": "http", "client": ("10.0.0.1", 5), "headers": []}, receive, send)
    assert all(b"connection" not in dict(m.get("headers", ())) for m in sent)
    assert mine.counts() == [None, 0]  # never published


async def test_a_quiet_connection_stops_counting_and_an_unwritten_slot_is_absent(
    boards: tuple[LoadBoard, LoadBoard], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = boards
    share = ConnectionShare(mine, active_seconds=0.5)
    balance = ConnectionBalance(_ok, share=share)
    for c in (1, 2, 3):
        await _ask(balance, c)
    assert mine.counts()[0] == 3
    await asyncio.sleep(0.55)
    share.refresh()  # as the publishing task does several times a second
    assert mine.counts()[0] == 0

    other.publish(9)
    assert mine.counts() == [0, 9]
    monkeypatch.setattr(board, "STALE_MS", 0)  # a slot not written since: its process is not serving
    await asyncio.sleep(0.002)
    assert mine.counts() == [None, None]


async def test_the_count_is_published_while_no_request_comes(boards: tuple[LoadBoard, LoadBoard]) -> None:
    mine, _ = boards
    share = ConnectionShare(mine)
    stop = asyncio.Event()
    publishing = asyncio.create_task(share.keep_publishing(stop, interval=0.01))
    await asyncio.sleep(0.05)
    assert mine.counts()[0] == 0  # present: idle, not gone
    stop.set()
    await publishing


def test_the_supervisor_clears_a_slot_before_starting_its_process_again(tmp_path: Path) -> None:
    path = tmp_path / "web.board"
    board.create(path, 3)
    first, second = LoadBoard(path, 0), LoadBoard(path, 2)
    second.publish(7)
    assert first.counts() == [None, None, 7]
    board.clear(path, 2)  # its process died; the new one starts from nothing
    assert first.counts() == [None, None, None]
    with pytest.raises(ValueError):
        LoadBoard(path, 3)
