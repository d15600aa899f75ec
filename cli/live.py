"""The CLI's end of a live stream: messages as the API pushes them, through drops.

A dropped connection (the network blinked, the API restarted) is opened again with
backoff, from the cursor reached, so nothing is lost or shown twice, for about a minute
(``RECONNECT_DELAYS``: longer than a request's retries, since a follower waits on the work
anyway, and an API restart took 11-12 s in the chaos suite); then it is an error that
names the command that picks up. Where no WebSocket can be opened at all
(a proxy refuses the upgrade, or ``RGRID_LIVE=poll``), ``StreamUnavailable`` says why and
the caller polls instead.

A peer that stops answering without closing (a saturated machine, a network that drops
packets) is found by the keepalive's unanswered ping and is a drop like any other. The
websockets library logs that as an error with its traceback, through Python's last-resort
handler when nothing is configured: the CLI gives it a logger that says nothing, since the
retry line already tells what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cli.client import ApiClient, say_retrying
from rgrid_common.errors import ApiUnreachable, error_from_problem
from rgrid_common.stream import (BatchEndEvent, EndEvent, ErrorEvent, LogEvent, StreamMessage,
                                 read_message)
from rgrid_common.tls import tls_context

GATEWAY_STATUSES = {502, 503, 504}  # a proxy in front of a restarting API: try again
OPEN_TIMEOUT_SECONDS = 10
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 5.0, 8.0, 10.0, 15.0, 15.0)  # nine tries, about 60 s


# Outside logging's tree (a logging.config.dictConfig elsewhere resets the loggers under
# the names it configures), and above every level, so the library does not even format.
_LIBRARY_LOG = logging.Logger("rgrid.cli.websocket", level=logging.CRITICAL + 1)


@dataclass(frozen=True)
class Keepalive:
    """How often a stream pings the API, how long it waits for the pong before the
    connection counts as lost, and how long a close waits for the API's (seconds;
    the websockets library's defaults)."""
    interval: float = 20.0
    timeout: float = 20.0
    close_timeout: float = 10.0


KEEPALIVE = Keepalive()


class StreamUnavailable(Exception):
    """No WebSocket can be opened here; the reason, for the user."""


def execution_messages(client: ApiClient, execution_id: str, *, from_seq: int = 0,
                       idle_seconds: float | None = None,
                       on_idle: Callable[[], None] | None = None,
                       keepalive: Keepalive = KEEPALIVE) -> Iterator[StreamMessage]:
    """The execution's stream until its ``end``; after a drop, reconnected from the seq
    after the last chunk yielded. ``on_idle`` runs when nothing came for ``idle_seconds``."""
    cursor = {"from_seq": from_seq}

    def path() -> str:
        return f"/api/v1/executions/{execution_id}/stream?from_seq={cursor['from_seq']}"

    for message in _messages(client, path, idle_seconds, on_idle, EndEvent, keepalive):
        if isinstance(message, LogEvent):
            cursor["from_seq"] = message.seq + 1
        yield message


def batch_messages(client: ApiClient, batch_id: str, *, idle_seconds: float | None = None,
                   on_idle: Callable[[], None] | None = None,
                   keepalive: Keepalive = KEEPALIVE) -> Iterator[StreamMessage]:
    """The batch's stream until its end; a reconnection starts with a fresh snapshot."""
    yield from _messages(client, lambda: f"/api/v1/batches/{batch_id}/stream", idle_seconds,
                         on_idle, BatchEndEvent, keepalive)


def _messages(client: ApiClient, path: Callable[[], str], idle_seconds: float | None,
              on_idle: Callable[[], None] | None, last: type,
              keepalive: Keepalive) -> Iterator[StreamMessage]:
    if client.live_transport == "poll":
        raise StreamUnavailable("RGRID_LIVE=poll is set.")
    failures = 0
    while True:
        try:
            with _open(client, path(), keepalive) as websocket:
                for message in _received(websocket, idle_seconds, on_idle):
                    failures = 0  # a stream that opens, then closes at once, is no comeback
                    if isinstance(message, ErrorEvent):
                        raise error_from_problem(message.model_dump())
                    yield message
                    if isinstance(message, last):
                        return
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status not in GATEWAY_STATUSES:
                raise StreamUnavailable(f"The API's address answered HTTP {status} to a "
                                        "WebSocket upgrade (a proxy?).") from exc
            failures = _lost(client, failures, exc)
        except InvalidHandshake as exc:
            raise StreamUnavailable(f"No WebSocket could be opened ({exc}).") from exc
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            failures = _lost(client, failures, exc)


def _open(client: ApiClient, path: str, keepalive: Keepalive) -> ClientConnection:
    url = client.api_url.replace("http", "ws", 1) + path
    return connect(url, additional_headers=client.auth_headers, open_timeout=OPEN_TIMEOUT_SECONDS,
                   ssl=tls_context() if url.startswith("wss") else None,
                   max_size=16 * 2**20, compression=None, logger=_LIBRARY_LOG,
                   ping_interval=keepalive.interval, ping_timeout=keepalive.timeout,
                   close_timeout=keepalive.close_timeout)


def _received(websocket: ClientConnection, idle_seconds: float | None,
              on_idle: Callable[[], None] | None) -> Iterator[StreamMessage]:
    """Messages until the server closes; a close without the last message is a drop."""
    while True:
        try:
            raw = websocket.recv(timeout=idle_seconds)
        except TimeoutError:
            if on_idle:
                on_idle()
            continue
        yield read_message(raw)


def _lost(client: ApiClient, failures: int, exc: Exception) -> int:
    """One more failed try: wait, or give up after the last."""
    if failures >= len(RECONNECT_DELAYS):
        raise ApiUnreachable(f"Lost the live stream from {client.api_url} and could not get "
                             f"it back ({exc}).",
                             "Check the API is running; the work goes on without you, and "
                             "the command named above picks up where this stopped.") from exc
    say_retrying(failures + 2, attempts=len(RECONNECT_DELAYS) + 1, why=str(exc) or None)
    client.sleep(RECONNECT_DELAYS[failures])
    return failures + 1
