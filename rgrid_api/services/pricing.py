"""What an hour of a node costs, and where that figure came from: the autoscaler's nodes
carry Hetzner's price for their server type; any other worker (the single-machine
default's) has the configured price. Billing hours of a Hetzner node run from its
creation; the configured node's are the clock's hours (UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Node
from rgrid_common.money import micros_from_eur

LOCAL_PRICE_SETTING = "RGRID_LOCAL_PRICE_EUR_PER_HOUR"


@dataclass(frozen=True)
class NodePrice:
    per_hour_micros: int
    slots: int
    source: str
    created: datetime | None  # None: hours are the clock's
    deleted: datetime | None = None


def local_price(settings: Settings) -> NodePrice:
    return NodePrice(micros_from_eur(settings.local_price_eur_per_hour), settings.local_slots,
                     f"configured ({LOCAL_PRICE_SETTING}={settings.local_price_eur_per_hour})",
                     created=None)


def prices_of(session: Session, workers: set[str], settings: Settings) -> dict[str, NodePrice]:
    """Each worker's price: its node's, or the configured one."""
    nodes = {node.name: node for node in session.scalars(
        select(Node).where(Node.name.in_(workers), Node.price_per_hour_micros.is_not(None)))}
    return {worker: node_price(nodes[worker]) if worker in nodes else local_price(settings)
            for worker in workers}


def node_price(node: Node) -> NodePrice:
    return NodePrice(node.price_per_hour_micros or 0, node.slots or 1,
                     node.price_source or f"Hetzner {node.server_type}",
                     created=node.created_at, deleted=node.deleted_at)
