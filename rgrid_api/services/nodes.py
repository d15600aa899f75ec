"""Worker nodes and the autoscaler's event log: what it reports each round, and what the
API shows of it (`GET /api/v1/nodes`, `rgrid nodes`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from rgrid_api.models import AutoscalerEvent, Execution, Node, as_utc
from rgrid_api.schemas import (AutoscalerEventPublic, AutoscalerReport, Capacity,
                               CapacityProblem, Load, NodeList, NodePublic, ProvisioningNode)
from rgrid_common.status import AutoscalerEventKind, ExecutionStatus, NodeState

RECENT_DURATIONS = 50
SHOWN_EVENTS = 50
SHOWN_AFTER_DELETION = timedelta(days=1)  # a deleted node stays in the list this long
PROBLEM_WINDOW = timedelta(minutes=5)
ERROR, PROVISION = AutoscalerEventKind.ERROR.value, AutoscalerEventKind.PROVISION.value


def record_report(session: Session, report: AutoscalerReport, now: datetime) -> None:
    known = {node.name: node for node in session.scalars(
        select(Node).where(Node.name.in_([n.name for n in report.nodes])))}
    for seen in report.nodes:
        node = known.get(seen.name) or Node(name=seen.name)
        if node.id is None:
            session.add(node)
        for key, value in seen.model_dump().items():
            setattr(node, key, value)
        node.updated_at = now
        if seen.state == NodeState.DELETED and node.deleted_at is None:
            node.deleted_at = now
    session.add_all(AutoscalerEvent(**event.model_dump()) for event in report.events)
    session.commit()


def load(session: Session) -> Load:
    running = dict(session.execute(
        select(Execution.worker, func.count())
        .where(Execution.status == ExecutionStatus.RUNNING.value,
               Execution.worker.is_not(None))
        .group_by(Execution.worker)).all())
    recent = session.execute(
        select(Execution.started_at, Execution.finished_at)
        .where(Execution.started_at.is_not(None), Execution.finished_at.is_not(None),
               Execution.cached_from.is_(None))
        .order_by(Execution.finished_at.desc()).limit(RECENT_DURATIONS)).all()
    durations = [(end - start).total_seconds() for start, end in recent]
    return Load(running_by_worker=running,
                mean_duration_seconds=sum(durations) / len(durations) if durations else None)


def public_nodes(session: Session, *, deleted_since: datetime) -> NodeList:
    rows = session.scalars(select(Node).where(
        or_(Node.deleted_at.is_(None), Node.deleted_at >= deleted_since))
        .order_by(Node.created_at))
    events = session.scalars(select(AutoscalerEvent).order_by(AutoscalerEvent.at.desc(),
                                                              AutoscalerEvent.id.desc())
                             .limit(SHOWN_EVENTS))
    return NodeList(
        nodes=[NodePublic.model_validate(row, from_attributes=True) for row in rows],
        events=[AutoscalerEventPublic.model_validate(row, from_attributes=True)
                for row in events])


def capacity(session: Session, now: datetime) -> Capacity:
    """Nodes coming up, and the autoscaler's latest provider error when nothing was
    provisioned after it (within the last few minutes)."""
    live = session.scalars(select(Node).where(Node.deleted_at.is_(None))).all()
    provisioning = [ProvisioningNode(name=node.name, elapsed_seconds=max(0, int(
        (now - as_utc(node.created_at)).total_seconds())))
        for node in live if node.state == NodeState.PROVISIONING.value]
    return Capacity(ready_nodes=sum(node.state == NodeState.READY.value for node in live),
                    provisioning=provisioning, problem=_current_problem(session, now))


def _current_problem(session: Session, now: datetime) -> CapacityProblem | None:
    latest = session.scalars(
        select(AutoscalerEvent).where(AutoscalerEvent.at >= now - PROBLEM_WINDOW,
                                      AutoscalerEvent.kind.in_((ERROR, PROVISION)))
        .order_by(AutoscalerEvent.at.desc(), AutoscalerEvent.id.desc()).limit(1)).first()
    if latest is None or latest.kind != ERROR:
        return None
    return CapacityProblem(code=latest.details.get("code", "provider_error"),
                           message=latest.message, at=latest.at)

