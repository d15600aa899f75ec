"""A follower's live stream outlasts the API being away for about a minute (an API restart
took 11-12 s in the chaos suite, more than a request's 12 s of retries), then fails
naming the command that picks up; an API that goes silent without closing is found by the
keepalive and is a drop like any other, told in the retry line and nowhere else."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from cli.client import ApiClient, say_retrying
from cli.config import CliSettings
from cli.live import RECONNECT_DELAYS, Keepalive, execution_messages
from rgrid_common.errors import ApiUnreachable
from tests.helpers import free_port


def test_a_lost_stream_is_tried_again_for_about_a_minute_then_is_an_error(capsys):
    waited: list[float] = []
    client = ApiClient(CliSettings(api_url=f"http://127.0.0.1:{free_port()}", api_key="k"),
                       sleep=waited.append)

    with pytest.raises(ApiUnreachable, match="could not get it back"):
        list(execution_messages(client, "ex_1"))

    assert waited == list(RECONNECT_DELAYS) and sum(waited) >= 60
    assert f"Retrying... (attempt {len(RECONNECT_DELAYS) + 1}/{len(RECONNECT_DELAYS) + 1})" \
        in capsys.readouterr().err.replace("\n", "")


class SilentApi:
    """A listener that accepts one WebSocket, answers its handshake, then neither reads nor
    writes (as a peer on a saturated machine, or behind a network that drops packets,
    does); it listens no more after that, so each try again is refused at once."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.upgraded = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve_one, daemon=True).start()

    def _serve_one(self) -> None:
        connection, _ = self._listener.accept()
        self._listener.close()
        self._held.append(connection)
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(
            key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                           b"\r\n\r\n")
        self.upgraded.set()

    def close(self) -> None:
        for connection in self._held:
            connection.close()


@pytest.fixture
def silent_api() -> Iterator[SilentApi]:
    api = SilentApi()
    yield api
    api.close()


def test_an_api_that_goes_silent_is_a_drop_told_once_without_a_traceback(
        silent_api, capsys, caplog):
    client = ApiClient(CliSettings(api_url=silent_api.url, api_key="k"), sleep=lambda _: None)
    quick = Keepalive(interval=0.2, timeout=0.2, close_timeout=0.2)
    raised: list[Exception] = []

    def follow() -> None:
        try:
            list(execution_messages(client, "ex_1", keepalive=quick))
        except Exception as exc:  # noqa: BLE001 - the test asserts which
            raised.append(exc)

    with caplog.at_level(logging.DEBUG):
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        follower.join(timeout=60)  # a guard: without the keepalive it would wait for ever

    assert silent_api.upgraded.is_set()
    assert not follower.is_alive(), "the silent API held the follower"
    assert [type(exc) for exc in raised] == [ApiUnreachable]
    err = capsys.readouterr().err
    # the retry line says how the stream went: a drop of ours, for want of a pong
    assert ("Connection lost (sent 1011 (internal error) keepalive ping timeout"
            in err.replace("\n", " "))
    assert "Retrying... (attempt 2/" in err.replace("\n", "")
    assert "Traceback" not in err and "keepalive ping failed" not in err
    assert [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING] == []


def test_the_retry_line_prints_the_reason_as_written(capsys):
    """A reason is the library's text, never markup (``[/]`` would break the line)."""
    say_retrying(2, attempts=9, why="[bold]sent[/] 1011 [/x]")
    assert "Connection lost ([bold]sent[/] 1011 [/x]). Retrying... (attempt 2/9)" in (
        capsys.readouterr().err.replace("\n", " "))
