"""A warm worker's ear for new work: it listens on the RGrid API's new-work stream for its
pool and polls Prefect as soon as a flow run is made for it, instead of at its next poll
(``rgrid_api.services.new_work`` says why). The poll every PREFECT_WORKER_QUERY_SECONDS
goes on as before, so nothing depends on being told.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import anyio
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from flows.settings import WorkerSettings
from rgrid_common.protocol import NewWork
from rgrid_common.tls import tls_context

log = logging.getLogger(__name__)
PATH = "/api/v1/worker/new-work"
AGAIN_AFTER_SECONDS = (1, 2, 4, 8, 15)  # a stream that closes or cannot open is reopened


async def poll_when_told(pool: str, poll: Callable[[], Awaitable[object]],
                         settings: WorkerSettings) -> None:
    """Forever: ``poll()`` each time work is announced on ``pool``. A stream that drops or
    cannot be opened is opened again, 1 to 15 s later; an API without it (an older one)
    is left alone, and the worker polls as it always did."""
    url = settings.api_url.rstrip("/").replace("http", "ws", 1) + f"{PATH}?pool={quote(pool)}"
    headers = {"Authorization": f"Bearer {settings.worker_token.get_secret_value()}"}
    failures = 0
    while True:
        try:
            async with connect(url, additional_headers=headers, max_size=2**16,
                               ssl=tls_context() if url.startswith("wss") else None) as stream:
                failures = 0
                async for message in stream:
                    if _announced(message):
                        await _poll(poll)
        except InvalidStatus as exc:
            if exc.response.status_code in (403, 404):  # no such route: an older API
                log.info("the API at %s announces no work; polling Prefect only",
                         settings.api_url)
                return
            failures = await _wait_after(failures, exc)
        except (OSError, TimeoutError, WebSocketException) as exc:
            failures = await _wait_after(failures, exc)
        except Exception as exc:  # noqa: BLE001 - the ear must never stop the worker
            log.exception("the new-work stream failed")
            failures = await _wait_after(failures, exc)
        else:  # the API closed the stream (it stopped, or refused the token): open again
            failures = await _wait_after(failures, "the stream was closed")


def _announced(message: str | bytes) -> bool:
    """Whether the message announces work; anything else (the error the API sends before
    it closes the stream, e.g. a refused token) is logged."""
    try:
        return NewWork.model_validate_json(message).arrived
    except ValidationError:
        log.warning("the new-work stream said: %s", str(message)[:500])
        return False


async def _wait_after(failures: int, why: object) -> int:
    if failures == 0:
        log.warning("the new-work stream of the API is away (%s); the worker's poll goes "
                    "on, and the stream is opened again", why)
    await anyio.sleep(AGAIN_AFTER_SECONDS[min(failures, len(AGAIN_AFTER_SECONDS) - 1)])
    return failures + 1


async def _poll(poll: Callable[[], Awaitable[object]]) -> None:
    """A poll that fails (Prefect away) is the regular poll's to report and retry."""
    try:
        await poll()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.debug("polling Prefect on an announcement failed: %s", exc)
