"""One round of the autoscaler: look (Prefect, the RGrid API, Hetzner), decide, act, and
report every node and decision to the RGrid API, where `rgrid nodes` shows them.

Queue depth is the pool's flow runs waiting for a slot, by Prefect. Worker liveness is each
worker's last heartbeat, by Prefect. What runs on which node comes from the RGrid API:
Prefect's flow runs do not name the worker that took them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterExpectedStartTime,
                                            FlowRunFilterState, FlowRunFilterStateType,
                                            WorkPoolFilter, WorkPoolFilterName)
from prefect.client.schemas.objects import StateType

from hetzner_autoscaler.cloud_init import render_cloud_init
from hetzner_autoscaler.decisions import Decision, NodeView, Observation, as_record, decide
from hetzner_autoscaler.hetzner import HetznerNodes, Server
from hetzner_autoscaler.settings import AutoscalerSettings
from rgrid_common.errors import ProviderError
from rgrid_common.protocol import (AutoscalerEventIn, AutoscalerReport, Load, NodeReport,
                                   WorkerTokenIssued)
from rgrid_common.status import AutoscalerEventKind, NodeState

ERROR = AutoscalerEventKind.ERROR

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Round:
    """What one round saw, decided and did."""

    decision: Decision
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Autoscaler:
    def __init__(self, settings: AutoscalerSettings, *, hetzner: HetznerNodes,
                 prefect: SyncPrefectClient, control: httpx.Client,
                 clock: Clock = utcnow) -> None:
        self._settings, self._hetzner = settings, hetzner
        self._prefect, self._control, self._clock = prefect, control, clock
        self._last_summary: str | None = None
        self._price: tuple[int, str] | None = None

    def tick(self) -> Round:
        now = self._clock()
        try:
            servers = self._hetzner.servers()
        except ProviderError as exc:  # blind this round: nothing decided, the cause told
            self._report([], [_event(now, ERROR, None, f"{exc.message} {exc.hint}".strip(),
                                     code=exc.code)])
            return Round(Decision(reasons=[exc.message]), errors=[exc.message])
        seen = self._observe(servers, now)
        outcome = Round(decide(seen, self._settings.policy))
        events = self._decision_events(outcome.decision, now)
        nodes = {view.name: self._node_report(view, server)
                 for view, server in zip(seen.nodes, servers)}
        for removal in outcome.decision.remove:
            events.append(self._delete(removal.node, removal.reason, nodes, outcome, now))
        for _ in range(outcome.decision.create):
            event, created = self._create(outcome, now)
            events.append(event)
            if created is None:
                break  # the provider refuses now; the next round tries again
            nodes[created.name] = self._node_report(
                NodeView(created.name, created.id, created.created_at, None), created)
        self._report(list(nodes.values()), events)
        return outcome

    def _observe(self, servers: list[Server], now: datetime) -> Observation:
        workers = {worker.name: worker.last_heartbeat_time for worker in
                   self._prefect.read_workers_for_work_pool(self._settings.work_pool)}
        load = Load.model_validate(self._checked(self._control.get("/api/v1/control/load")))
        views = tuple(NodeView(name=server.name, server_id=server.id,
                               created_at=server.created_at,
                               worker_seen_at=workers.get(server.name),
                               running=load.running_by_worker.get(server.name, 0))
                      for server in servers)
        return Observation(now=now, queued=self._waiting_flow_runs(now), nodes=views,
                           mean_duration_seconds=load.mean_duration_seconds)

    def _waiting_flow_runs(self, now: datetime) -> int:
        return self._prefect.count_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(
                any_=[self._settings.work_pool])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.SCHEDULED, StateType.PENDING])),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=now)))

    def _decision_events(self, decision: Decision, now: datetime) -> list[AutoscalerEventIn]:
        """A decision is logged when it acts or when its reasoning changed."""
        if not (decision.create or decision.remove) and decision.summary == self._last_summary:
            return []
        self._last_summary = decision.summary
        return [AutoscalerEventIn(at=now, kind=AutoscalerEventKind.DECISION,
                                  message=decision.summary, details=as_record(decision))]

    def _delete(self, node: NodeView, reason: str, nodes: dict[str, NodeReport],
                outcome: Round, now: datetime) -> AutoscalerEventIn:
        self._revoke_worker_token(node.name)  # first: a node being deleted reports nothing
        try:
            self._hetzner.delete(node.server_id)
        except ProviderError as exc:
            outcome.errors.append(exc.message)
            return _event(now, ERROR, node.name, exc.message, code=exc.code)
        nodes[node.name] = nodes[node.name].model_copy(
            update={"state": NodeState.DELETED, "delete_reason": reason})
        outcome.deleted.append(node.name)
        return _event(now, AutoscalerEventKind.DELETE, node.name,
                      f"deleted {node.name}: {reason}")

    def _create(self, outcome: Round, now: datetime
                ) -> tuple[AutoscalerEventIn, Server | None]:
        name = f"{self._settings.node_name_prefix}-{secrets.token_hex(4)}"
        token = self._issue_worker_token(name)
        try:
            server = self._hetzner.create(name, render_cloud_init(self._settings, name, token))
        except ProviderError as exc:
            self._revoke_worker_token(name)
            outcome.errors.append(exc.message)
            return _event(now, ERROR, name, f"{exc.message} {exc.hint}".strip(),
                          code=exc.code), None
        outcome.created.append(name)
        return _event(now, AutoscalerEventKind.PROVISION, name,
                      f"created {name} (server {server.id}, "
                      f"{self._settings.server_type})"), server

    def _issue_worker_token(self, node_name: str) -> str:
        """The node's own token (it goes into its cloud-init, nowhere else)."""
        answer = self._checked(self._control.post("/api/v1/control/worker-tokens",
                                                  json={"worker": node_name}))
        return WorkerTokenIssued.model_validate(answer).token

    def _revoke_worker_token(self, node_name: str) -> None:
        self._checked(self._control.delete(f"/api/v1/control/worker-tokens/{node_name}"))

    def _node_report(self, view: NodeView, server: Server) -> NodeReport:
        price, source = self._hourly_price()
        return NodeReport(
            name=server.name, pool=self._settings.work_pool, server_id=server.id,
            server_status=server.status, created_at=server.created_at,
            state=NodeState.READY if view.worker_seen_at else NodeState.PROVISIONING,
            worker_seen_at=view.worker_seen_at, running=view.running,
            server_type=self._settings.server_type, price_per_hour_micros=price,
            price_source=source, slots=self._settings.slots_per_node)

    def _hourly_price(self) -> tuple[int, str]:
        """Asked of Hetzner once; until it answers, the configured price, asked again."""
        if self._price is None:
            price = self._hetzner.hourly_price(self._settings.fallback_price_eur_per_hour)
            if price[1].startswith("Hetzner"):
                self._price = price
            return price
        return self._price

    def _report(self, nodes: list[NodeReport], events: list[AutoscalerEventIn]) -> None:
        report = AutoscalerReport(nodes=nodes, events=events)
        self._checked(self._control.post("/api/v1/control/autoscaler/report",
                                         json=report.model_dump(mode="json")))

    @staticmethod
    def _checked(response: httpx.Response):
        response.raise_for_status()
        return response.json() if response.content else None


def _event(now: datetime, kind: AutoscalerEventKind, node: str | None, message: str,
           **details) -> AutoscalerEventIn:
    return AutoscalerEventIn(at=now, kind=kind, node=node, message=message[:4000],
                             details=details)
