"""The server's logging: bad requests cost one bounded line, and logging never blocks it."""

from __future__ import annotations

import errno
import logging
import os
import re
import select
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from test_server_cli import wait_listening

pytestmark = pytest.mark.timeout(60)

# A well-formed request, then garbage on the same connection: the HTTP parser fails on
# the garbage and its error message quotes the bytes it could not parse.
REQUEST = b"GET /time/0 HTTP/1.1\r\nHost: x\r\n\r\n"
GARBAGE = bytes(range(256)) * 512  # 128 KiB


def _read_response(sock: socket.socket) -> None:
    """Read one HTTP response with a Content-Length (the answer to ``REQUEST``)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response"
        body += chunk


def flood(port: int, connections: int) -> None:
    """Send ``REQUEST``, read its answer, then ``GARBAGE``, on each of ``connections``.

    The answer is read first so that the garbage is the connection's second request:
    aiohttp logs garbage as a connection's first request at debug level only (noise
    from non-HTTP clients), and how the bytes of one send are split between reads
    differs between Python versions. The server refuses the garbage and closes the
    connection; with garbage still unread, the close may reach this side as a reset
    (mid-send, mid-read, or as a shutdown of a socket no longer connected): the
    server's to choose, so each ends the connection.
    """
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(REQUEST)
            _read_response(sock)
            try:
                sock.sendall(GARBAGE)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except ConnectionError:  # reset mid-send or mid-read
                pass
            except OSError as exc:
                if exc.errno != errno.ENOTCONN:  # shutdown after a reset
                    raise


def test_a_flood_of_garbage_does_not_freeze_a_server_whose_stderr_nobody_reads() -> None:
    # stderr is a pipe this test does not read until the end: a pipe holds 64 KiB, so a
    # server writing more than that to it blocks, unless its logging never waits.
    process = subprocess.Popen(
        [sys.executable, "-m", "rxpresence.server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = wait_listening(process)
        port = int(url.rsplit(":", 1)[1])
        flood(port, connections=20)  # about 2.5 MB of garbage, quoted in every error
        with urllib.request.urlopen(f"{url}/time/0", timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr[-2000:]
    lines = stderr.splitlines()
    bad = [line for line in lines if "bad request" in line]
    assert bad, stderr[-2000:]
    # One bounded line per bad request at most, and no quoted garbage.
    assert len(lines) <= 25, lines
    assert all(len(line) <= 400 for line in lines), max(lines, key=len)
    assert len(stderr) < 10_000  # against about 7 MB of quoted garbage before


def test_bad_requests_log_one_bounded_line_each_then_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rxpresence.server import LocalPresenceServer

    caplog.set_level(logging.DEBUG, logger="rxpresence.server")
    with LocalPresenceServer() as server:
        flood(server.port, connections=3)
        with urllib.request.urlopen(f"{server.url}/time/0", timeout=10) as response:
            assert response.status == 200
    records = [r for r in caplog.records if r.name == "rxpresence.server.http"]
    assert len(records) == 3, [r.getMessage() for r in records]
    for record in records:
        message = record.getMessage()
        assert message.startswith("bad request from 127.0.0.1: BadHttpMethod"), message
        assert "\n" not in message and len(message) <= 300, message
        assert record.exc_info is None and record.exc_text is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_record(message: str, level: int = logging.ERROR, exc: BaseException | None = None) -> Any:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("rxpresence.server.http", level, __file__, 1, message, (), exc_info)


def test_the_filter_bounds_each_record_to_one_line() -> None:
    from rxpresence.server._logs import BoundedLines

    bounded = BoundedLines(max_chars=80, per_window=10, window=1.0, clock=FakeClock())
    huge = "x" * 10_000 + "\nsecond line"
    record = make_record("Error handling request from %s", exc=ValueError(huge))
    record.args = ("10.0.0.1",)
    assert bounded.filter(record)
    message = record.getMessage()
    assert message.startswith("bad request from 10.0.0.1: ValueError: xxx")
    assert len(message) <= 80 and "\n" not in message
    assert message.endswith("…")
    assert record.exc_info is None and record.exc_text is None

    plain = make_record("Ignored premature client disconnection", logging.DEBUG)
    assert bounded.filter(plain)
    assert plain.getMessage() == "Ignored premature client disconnection"


def test_the_filter_rate_limits_and_says_how_many_it_dropped() -> None:
    from rxpresence.server._logs import BoundedLines

    clock = FakeClock()
    bounded = BoundedLines(max_chars=200, per_window=3, window=1.0, clock=clock)
    passed = [bounded.filter(make_record(f"line {i}")) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    clock.now += 0.5
    assert not bounded.filter(make_record("still in the window"))
    clock.now += 0.6
    record = make_record("next window")
    assert bounded.filter(record)
    assert record.getMessage() == "next window (8 similar lines dropped in the last 1.1 s)"
    after = make_record("after")
    assert bounded.filter(after)
    assert after.getMessage() == "after"


DROP_NOTE = re.compile(rb"\((\d+) log lines dropped: standard error is slow\)\n")


def read_drop_notes(fd: int, total: int, timeout: float = 10.0) -> list[int]:
    """Read ``fd`` until its drop notes add up to ``total``; fail after ``timeout`` s."""
    received = b""
    deadline = time.monotonic() + timeout
    while sum(notes := [int(n) for n in DROP_NOTE.findall(received)]) < total:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"drop notes {notes} short of {total} after {timeout} s")
        received += os.read(fd, 1 << 20)
    return notes


def test_the_handler_drops_lines_instead_of_waiting_for_a_full_pipe() -> None:
    from rxpresence.server._logs import NonBlockingStderr

    read_end, write_end = os.pipe()
    handler = NonBlockingStderr(fd=write_end, capacity=10, close_timeout=0.2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        # 300 KB against a 64 KiB pipe nobody reads: the writer thread blocks, the
        # queue fills, and emit() goes on returning at once, counting what it drops.
        for _ in range(300):
            handler.emit(make_record("x" * 1000))
        assert handler.dropped >= 200  # at most 66 lines in the pipe, 10 in the queue
        handler.close()  # returns after close_timeout, although the writer is stuck
        # Once the pipe is read, the writer catches up and says how many it dropped.
        # (A line may slip through between drops, so there can be several notes.)
        assert sum(read_drop_notes(read_end, handler.dropped)) == handler.dropped
    finally:
        handler.close()  # now the writer can take the end marker
        os.close(read_end)
        os.close(write_end)
