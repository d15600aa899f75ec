"""A warm worker's ear for new work: it waits at the RGrid API for the announcement that a
flow run was made for its pool, and then polls Prefect at once instead of at its next
poll (``rgrid_api.services.new_work`` says why). The poll every
PREFECT_WORKER_QUERY_SECONDS goes on as before, so nothing depends on being told.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import httpx

from flows.settings import WorkerSettings
from rgrid_common.protocol import NewWork

log = logging.getLogger(__name__)
PATH = "/api/v1/worker/new-work"
WAIT_SECONDS = 25  # how long one request waits for an announcement
AGAIN_AFTER_SECONDS = (1, 2, 4, 8, 15)  # an API that does not answer is asked again


async def poll_when_told(pool: str, poll: Callable[[], Awaitable[object]],
                         settings: WorkerSettings,
                         transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Forever: waits for work announced on ``pool``, then ``poll()``s. An API that does
    not answer is asked again, 1 to 15 s later; one that does not announce work (an older
    one: 404) is left alone, and the worker polls as it always did."""
    headers = {"Authorization": f"Bearer {settings.worker_token.get_secret_value()}"}
    async with httpx.AsyncClient(base_url=settings.api_url.rstrip("/"), headers=headers,
                                 timeout=WAIT_SECONDS + 10, transport=transport) as http:
        failures = 0
        while True:
            try:
                response = await http.get(PATH, params={"pool": pool, "wait": WAIT_SECONDS})
                if response.status_code == 404:
                    log.info("the API at %s announces no work; polling Prefect only",
                             settings.api_url)
                    return
                response.raise_for_status()
            except httpx.HTTPError as exc:
                failures = await _wait_after(failures, exc)
                continue
            failures = 0
            if NewWork.model_validate(response.json()).arrived:
                await _poll(poll)


async def _wait_after(failures: int, exc: Exception) -> int:
    if failures == 0:
        log.warning("could not wait for new work at the API (%s); its poll goes on", exc)
    await anyio.sleep(AGAIN_AFTER_SECONDS[min(failures, len(AGAIN_AFTER_SECONDS) - 1)])
    return failures + 1


async def _poll(poll: Callable[[], Awaitable[object]]) -> None:
    """A poll that fails (Prefect away) is the regular poll's to report and retry."""
    try:
        await poll()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.debug("polling Prefect on an announcement failed: %s", exc)
