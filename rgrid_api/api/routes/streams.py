"""Live streams over WebSocket: an execution's log and status, a batch's progress, and, for
a pool's workers, the new work made for it.

Each stream subscribes to its execution or batch on the process's event bus, then reads
from the database whenever the bus rings; between rings it only waits. The messages are
``rgrid_common.stream``'s. The API key comes in the ``Authorization`` header or in a first
``auth`` message, never in the URL, or, from a console page of this site, in the console's
session cookie; another account's id answers as a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from rgrid_api.api.deps import SignInGuard
from rgrid_api.console.auth import COOKIE as CONSOLE_COOKIE
from rgrid_api.console.auth import from_this_site
from rgrid_api.core.db import get_sessionmaker
from rgrid_api.core.events import BUS, Subscription, batch_topic, execution_topic, work_topic
from rgrid_api.models import MAX_LOG_SEQ, Account
from rgrid_api.services import streams
from rgrid_api.services.accounts import account_for_key
from rgrid_api.services.console_sessions import account_for_session
from rgrid_api.services.worker_tokens import worker_for_token
from rgrid_common.errors import Forbidden, InvalidInput, RGridError, Unauthorized
from rgrid_common.protocol import MAX_POOL_NAME, NewWork
from rgrid_common.stream import (AUTH_TIMEOUT_SECONDS, CLOSE_NORMAL, AuthMessage, ErrorEvent,
                                 close_code)

router = APIRouter(tags=["streams"])
WORK_WAIT_SECONDS = 3600  # a new-work stream only waits; the bus rings it when there is work


@router.websocket("/api/v1/executions/{execution_id}/stream")
async def execution_stream(websocket: WebSocket, execution_id: str) -> None:
    """Every log chunk from ``?from_seq=`` on, each status, then ``end``."""
    cursor = streams.ExecutionCursor()

    topic = execution_topic(execution_id)

    def step(session, account: Account, changed: set[str] | None) -> list[BaseModel]:
        """Woken by a change (``changed`` not None), the read is shared with the other
        followers woken by it; the first read and a safety-net read are its own."""
        generation = BUS.generation(topic) if changed is not None and cursor.checked else None
        return streams.execution_step(session, account=account, execution_id=execution_id,
                                      cursor=cursor, generation=generation)

    async def serve(account: Account) -> None:
        cursor.next_seq = _from_seq(websocket)
        with BUS.subscribe(topic) as subscription:
            await _follow(websocket, subscription, account, step, lambda: cursor.ended)

    await _stream(websocket, serve)


@router.websocket("/api/v1/batches/{batch_id}/stream")
async def batch_stream(websocket: WebSocket, batch_id: str) -> None:
    """A snapshot (counts, running items, newest failures), then each item's change and
    the counts after it, until the batch has finished."""
    cursor = streams.BatchCursor(opened_at=websocket.app.state.clock())
    snapshot_sent = False

    def step(session, account: Account, changed: set[str]) -> list[BaseModel]:
        nonlocal snapshot_sent
        if not snapshot_sent:
            snapshot_sent = True
            return streams.batch_snapshot(session, account=account, batch_id=batch_id,
                                          cursor=cursor)
        return streams.batch_step(session, account=account, batch_id=batch_id,
                                  changed=changed or set(), cursor=cursor)

    async def serve(account: Account) -> None:
        with BUS.subscribe(batch_topic(batch_id)) as subscription:
            await _follow(websocket, subscription, account, step, lambda: cursor.ended)

    await _stream(websocket, serve)


@router.websocket("/api/v1/worker/new-work")
async def new_work_stream(websocket: WebSocket) -> None:
    """``{"arrived": true}`` each time a flow run is made for ``?pool=``, for as long as the
    stream is open (``rgrid_api.services.new_work``). A worker's own token, in the header.
    A stream, not a long poll, so that nothing is missed between two requests and the
    API's shutdown closes it at once (uvicorn waits for HTTP requests to finish)."""
    await websocket.accept()
    try:
        pool = _pool(websocket)
        await _authenticate_worker(websocket)
        with BUS.subscribe(work_topic(pool)) as subscription:
            await _tell_of_work(websocket, subscription)
    except RGridError as exc:
        await _close_with_error(websocket, exc)
    except WebSocketDisconnect:
        pass


async def _tell_of_work(websocket: WebSocket, subscription: Subscription) -> None:
    arrived = NewWork(arrived=True).model_dump_json()
    async with _ClientSide(websocket) as client:
        while (rung := await client.wait_for(subscription, WORK_WAIT_SECONDS)) is not None:
            if rung:
                subscription.take()
                await websocket.send_text(arrived)


def _pool(websocket: WebSocket) -> str:
    pool = websocket.query_params.get("pool", "")
    if not 0 < len(pool) <= MAX_POOL_NAME:
        raise InvalidInput("?pool= must name the work pool (1 to 128 characters).",
                           "Open the stream with the pool the worker serves.")
    return pool


async def _authenticate_worker(websocket: WebSocket) -> str:
    """The worker whose own token is in the Authorization header."""
    settings = websocket.app.state.settings
    guard = _admitted(websocket)
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("No worker token was sent.",
                           "Send the worker's own token in the Authorization header (Bearer).")

    def look_up() -> str:
        with get_sessionmaker(settings.database_url)() as session:
            return worker_for_token(session, token.strip())

    return await _counted_look_up(websocket, guard, look_up)


async def _stream(websocket: WebSocket, serve) -> None:
    """Accepts, authenticates and serves; a typed error is sent as an ``error`` message
    and closes the stream with its code."""
    await websocket.accept()
    try:
        account = await _authenticate(websocket)
        await serve(account)
    except RGridError as exc:
        await _close_with_error(websocket, exc)
    except WebSocketDisconnect:
        pass


async def _follow(websocket: WebSocket, subscription: Subscription, account: Account,
                  step: Callable, ended: Callable[[], bool]) -> None:
    settings = websocket.app.state.settings
    woken = False  # by a change (not the first read, a page left over or the safety net)
    async with _ClientSide(websocket) as client:
        while True:
            changed = subscription.take()
            messages = await asyncio.get_running_loop().run_in_executor(
                websocket.app.state.stream_readers, _read, settings.database_url, step,
                account, changed if woken else None)
            woken = False
            for message in messages:
                await websocket.send_text(message.model_dump_json())
            if ended():
                await websocket.close(CLOSE_NORMAL)
                return
            if len(messages) >= streams.CHUNKS_PER_STEP:
                continue  # more is waiting already
            woken = await client.wait_for(subscription, settings.stream_recheck_seconds)
            if woken is None:
                return


class _ClientSide:
    """The client's half of a stream: what it sends is ignored, its leaving ends the
    stream. One receive is pending throughout, so a disconnect is seen while waiting."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._receiver: asyncio.Future | None = None

    async def __aenter__(self) -> _ClientSide:
        self._receiver = asyncio.ensure_future(self._websocket.receive())
        return self

    async def __aexit__(self, *_exc) -> None:
        self._receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._receiver

    async def wait_for(self, subscription: Subscription, seconds: float) -> bool | None:
        """True once the bus rings, False after ``seconds`` without, None once the client
        has gone."""
        rung = asyncio.ensure_future(subscription.wait(seconds))
        done, _ = await asyncio.wait({self._receiver, rung},
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._receiver not in done:
            return rung.result()
        rung.cancel()
        if self._receiver.result()["type"] == "websocket.disconnect":
            return None
        self._receiver = asyncio.ensure_future(self._websocket.receive())  # ignored input
        return rung in done and rung.result()


def _read(database_url: str, step: Callable, account: Account,
          changed: set[str] | None) -> list[BaseModel]:
    with get_sessionmaker(database_url)() as session:
        return step(session, account, changed)


async def _authenticate(websocket: WebSocket) -> Account:
    settings = websocket.app.state.settings
    guard = _admitted(websocket)
    now = websocket.app.state.clock()
    console_token = _console_session(websocket)
    key = None if console_token else await _key(websocket)

    def look_up() -> Account:
        with get_sessionmaker(settings.database_url)() as session:
            if console_token:
                return account_for_session(session, token=console_token, now=now)
            return account_for_key(session, key=key, now=now)

    return await _counted_look_up(websocket, guard, look_up)


def _admitted(websocket: WebSocket) -> SignInGuard:
    """The client's sign-in guard, once it has not failed too often of late."""
    guard = SignInGuard(websocket.app.state.limiter,
                        websocket.client.host if websocket.client else "unknown",
                        websocket.app.state.settings.failed_auth_per_minute)
    guard.admit()
    return guard


async def _counted_look_up(websocket: WebSocket, guard: SignInGuard, look_up: Callable):
    """``look_up()`` off the event loop; a failure counts against the client's guard."""
    with guard.counting():
        return await asyncio.get_running_loop().run_in_executor(
            websocket.app.state.stream_readers, look_up)


def _console_session(websocket: WebSocket) -> str | None:
    """A console page's session cookie, from a page of this very site (a page elsewhere
    cannot use a signed-in browser's cookie to read a stream)."""
    token = websocket.cookies.get(CONSOLE_COOKIE)
    if not token or websocket.headers.get("authorization"):
        return None
    if not from_this_site(websocket):
        raise Forbidden("This stream was opened from another site.",
                        "Open it from the console's own pages.")
    return token


async def _key(websocket: WebSocket) -> str:
    """``Authorization: Bearer …``, or a first message ``{"type": "auth", "api_key": …}``."""
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    try:
        first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_SECONDS)
        return AuthMessage.model_validate_json(first).api_key
    except (TimeoutError, ValidationError, KeyError) as exc:
        raise Unauthorized("No API key was sent.",
                           "Send it in the Authorization header (Bearer), or as a first "
                           'message {"type": "auth", "api_key": "..."}.') from exc


def _from_seq(websocket: WebSocket) -> int:
    raw = websocket.query_params.get("from_seq", "0")
    if not raw.isdigit() or int(raw) > MAX_LOG_SEQ + 1:
        raise InvalidInput("from_seq must be a whole number from 0 (the first chunk not "
                           "yet seen).", "Reconnect with the last seq you received plus one.")
    return int(raw)


async def _close_with_error(websocket: WebSocket, exc: RGridError) -> None:
    if websocket.client_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        await websocket.send_text(ErrorEvent(status=exc.status_code, **exc.to_problem())
                                  .model_dump_json())
        await websocket.close(close_code(exc.status_code))
