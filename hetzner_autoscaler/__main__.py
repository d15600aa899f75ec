"""``python -m hetzner_autoscaler``: the autoscaler as its own long-running process, one
round every ``RGRID_TICK_SECONDS``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from hcloud import Client
from prefect.client.orchestration import SyncPrefectClient

from hetzner_autoscaler.autoscaler import Autoscaler, Clock, utcnow
from hetzner_autoscaler.hetzner import HetznerNodes
from hetzner_autoscaler.settings import AutoscalerSettings
from rgrid_common.errors import RGridError

log = logging.getLogger("hetzner_autoscaler")


def hcloud_token(settings: AutoscalerSettings) -> str:
    """From the Prefect Secret block when one is named, else the environment."""
    if settings.hcloud_token_block:
        from prefect.blocks.system import Secret
        return Secret.load(settings.hcloud_token_block).get()
    if settings.hcloud_token:
        return settings.hcloud_token.get_secret_value()
    raise RGridError("No Hetzner Cloud API token.",
                     "Save it as a Prefect Secret block and set RGRID_HCLOUD_TOKEN_BLOCK "
                     "to its name (or set RGRID_HCLOUD_TOKEN).")


@contextmanager
def connected(settings: AutoscalerSettings, clock: Clock = utcnow) -> Iterator[Autoscaler]:
    hetzner = HetznerNodes(
        Client(token=hcloud_token(settings), api_endpoint=settings.hcloud_endpoint,
               timeout=settings.hcloud_timeout_seconds, application_name="rgrid-autoscaler"),
        pool=settings.work_pool, spec=settings.server_spec,
        attempts=settings.provider_attempts, backoff_seconds=settings.provider_backoff_seconds)
    control = httpx.Client(base_url=settings.api_url, timeout=30, headers={
        "Authorization": f"Bearer {settings.control_token.get_secret_value()}"})
    with SyncPrefectClient(api=settings.prefect_api_url) as prefect, control:
        yield Autoscaler(settings, hetzner=hetzner, prefect=prefect, control=control,
                         clock=clock)


def run_rounds(autoscaler: Autoscaler, every_seconds: float,
               stop: threading.Event | None = None) -> None:
    """A round every ``every_seconds`` until ``stop`` is set; a failed round is logged and
    the next one tried."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            log.info("%s", autoscaler.tick().decision.summary)
        except Exception:  # noqa: BLE001 - one bad round must not stop the autoscaler
            log.exception("round failed; trying again in %.0f s", every_seconds)
        stop.wait(every_seconds)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = AutoscalerSettings()
    with connected(settings) as autoscaler:
        log.info("watching pool %r every %.0f s (at most %d nodes)", settings.work_pool,
                 settings.tick_seconds, settings.max_nodes)
        run_rounds(autoscaler, settings.tick_seconds)


if __name__ == "__main__":
    main()
