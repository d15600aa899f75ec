"""RGrid's nodes as Hetzner Cloud servers, through ``hcloud``.

hcloud itself retries rate limits, 502/504 and timeouts. On top of that, other server
errors and unreachable endpoints are retried here with exponential backoff, a few times,
each attempt counted so the error can say how many were made. A quota error is never
retried: it stays until someone raises the limit or deletes servers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import requests
from hcloud import APIException, Client
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from rgrid_common.errors import ProviderError, ProviderUnreachable, QuotaExceeded
from rgrid_common.money import micros_from_eur

log = logging.getLogger(__name__)
T = TypeVar("T")
NODE_LABEL = "rgrid-node"
QUOTA_CODES = ("resource_limit_exceeded", "limit_reached")


@dataclass(frozen=True)
class Server:
    id: int
    name: str
    status: str  # initializing, starting, running, stopping, off, deleting, ...
    created_at: datetime


@dataclass(frozen=True)
class ServerSpec:
    server_type: str = "cx22"
    image: str = "debian-12"
    location: str = "fsn1"


class HetznerNodes:
    """The servers labelled ``rgrid-node=<pool>``: list, create, delete."""

    def __init__(self, client: Client, *, pool: str, spec: ServerSpec, attempts: int = 4,
                 backoff_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        self._client, self._pool, self._spec = client, pool, spec
        self._attempts, self._backoff, self._sleep = attempts, backoff_seconds, sleep

    def servers(self) -> list[Server]:
        found = self._call("list servers", lambda: self._client.servers.get_all(
            label_selector=f"{NODE_LABEL}={self._pool}"))
        return [_server(bound) for bound in found]

    def create(self, name: str, user_data: str) -> Server:
        created = self._call(f"create server {name}", lambda: self._client.servers.create(
            name=name, server_type=ServerType(name=self._spec.server_type),
            image=Image(name=self._spec.image), location=Location(name=self._spec.location),
            user_data=user_data, labels={NODE_LABEL: self._pool}))
        return _server(created.server)

    def hourly_price(self, fallback_eur: str) -> tuple[int, str]:
        """What an hour of a node costs (micro-euros, net of VAT, at its location), from
        Hetzner's price of its server type; ``fallback_eur`` when Hetzner does not say.
        With where the figure came from."""
        spec = self._spec
        try:
            server_type = self._call(f"read server type {spec.server_type}",
                                     lambda: self._client.server_types.get_by_name(
                                         spec.server_type))
        except (ProviderError, ProviderUnreachable) as exc:
            log.warning("no price from Hetzner (%s); using the configured one", exc.message)
            server_type = None
        for price in (server_type.prices if server_type else None) or []:
            if price["location"] == spec.location:
                return (micros_from_eur(price["price_hourly"]["net"]),
                        f"Hetzner {spec.server_type} in {spec.location}, net")
        return (micros_from_eur(fallback_eur),
                f"configured (RGRID_FALLBACK_PRICE_EUR_PER_HOUR={fallback_eur}): Hetzner "
                f"gave no price for {spec.server_type} in {spec.location}")

    def delete(self, server_id: int) -> None:
        def delete() -> None:
            try:
                self._client.servers.get_by_id(server_id).delete()
            except APIException as exc:
                if exc.code != "not_found":  # gone already: what we wanted
                    raise
        self._call(f"delete server {server_id}", delete)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self._attempts + 1):
            try:
                return call()
            except APIException as exc:
                if exc.code in QUOTA_CODES:
                    raise QuotaExceeded(
                        f"Hetzner refused to {what}: {exc.message} (quota).",
                        "Raise the project's server limit in the Hetzner console, or lower "
                        "RGRID_MAX_NODES; provisioning resumes by itself.") from exc
                if not _worth_retrying(exc) or attempt == self._attempts:
                    raise ProviderError(
                        f"Hetzner failed to {what}: {exc.message} ({exc.code}), "
                        f"attempt {attempt} of {self._attempts}.",
                        "Check status.hetzner.com; the autoscaler tries again next round."
                    ) from exc
                reason = f"{exc.code} {exc.message}"
            except requests.RequestException as exc:
                if attempt == self._attempts:
                    raise ProviderUnreachable(
                        f"Hetzner API unreachable to {what}: {exc.__class__.__name__}, "
                        f"attempt {attempt} of {self._attempts}.",
                        "Check the control plane's network and RGRID_HCLOUD_ENDPOINT.") from exc
                reason = exc.__class__.__name__
            delay = self._backoff * 2 ** (attempt - 1)
            log.warning("%s: %s; attempt %d of %d, retrying in %.1f s", what, reason,
                        attempt, self._attempts, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")


def _worth_retrying(exc: APIException) -> bool:
    if isinstance(exc.code, int):
        return exc.code >= 500 or exc.code == 429
    return exc.code in ("server_error", "service_error", "unavailable", "timeout",
                        "rate_limit_exceeded", "conflict", "locked")


def _server(bound) -> Server:
    return Server(id=bound.id, name=bound.name, status=bound.status, created_at=bound.created)
