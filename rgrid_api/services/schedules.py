"""Scheduled batches: a batch request kept with a Prefect deployment schedule; each time
the schedule fires, its flow asks the API to start the batch (``fire``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.core.db import committed
from rgrid_api.models import Account, Batch, Schedule
from rgrid_api.schemas import BatchCreate, ScheduleCreate, SchedulePublic
from rgrid_api.services import artifacts, batches, executions, spending
from rgrid_api.services.flow_runs import FlowRunScheduler
from rgrid_api.storage import ObjectStore
from rgrid_common.errors import NotFound


def create_schedule(session: Session, *, account: Account, request: ScheduleCreate,
                    settings: Settings, scheduler: FlowRunScheduler) -> Schedule:
    """Checked as a batch would be now, so a bad request fails here and not at 3 a.m."""
    spec = request.batch
    executions.checked_spec(spec, settings)
    for item in spec.items:
        artifacts.validate_inputs(item.inputs, args=item.args, script_name=spec.script_name,
                                  settings=settings)
    schedule = Schedule(account_id=account.id, cron=request.cron,
                        every_seconds=request.every_seconds, script_name=spec.script_name,
                        batch=spec.model_dump(mode="json"))
    with committed(session):
        session.add(schedule)
        session.flush()
        schedule.deployment_id = scheduler.create_schedule(
            schedule_id=schedule.id, account_id=account.id, cron=request.cron,
            every_seconds=request.every_seconds)
    return schedule


def list_schedules(session: Session, *, account: Account) -> list[Schedule]:
    return list(session.scalars(select(Schedule).where(Schedule.account_id == account.id)
                                .order_by(Schedule.created_at)))


def get_schedule(session: Session, *, account: Account, schedule_id: str) -> Schedule:
    schedule = session.scalar(select(Schedule).where(Schedule.id == schedule_id,
                                                     Schedule.account_id == account.id))
    if schedule is None:
        raise NotFound(f"Schedule {schedule_id!r} not found.",
                       "List yours with `rgrid schedule list`.")
    return schedule


def delete_schedule(session: Session, *, account: Account, schedule_id: str,
                    scheduler: FlowRunScheduler) -> None:
    """The Prefect deployment first: if Prefect is down, nothing changes and the user
    can try again; the batches it started stay."""
    schedule = get_schedule(session, account=account, schedule_id=schedule_id)
    if schedule.deployment_id:
        scheduler.delete_schedule(schedule.deployment_id)
    session.delete(schedule)
    session.commit()


def latest_batch(session: Session, schedule: Schedule) -> Batch | None:
    """The batch the schedule fired last, if it has fired."""
    return session.scalar(select(Batch).where(Batch.schedule_id == schedule.id)
                          .order_by(Batch.created_at.desc()).limit(1))


def public_schedule(schedule: Schedule, scheduler: FlowRunScheduler | None) -> SchedulePublic:
    """Its next run asked of Prefect; without a scheduler (Prefect unreachable), unknown."""
    return SchedulePublic(
        id=schedule.id, cron=schedule.cron, every_seconds=schedule.every_seconds,
        script_name=schedule.script_name, files=len(schedule.batch["items"]),
        parallel=schedule.batch["parallel"], deployment_id=schedule.deployment_id,
        next_run_at=(scheduler.next_run_at(schedule.deployment_id)
                     if schedule.deployment_id and scheduler else None),
        created_at=schedule.created_at)


def fire(session: Session, *, schedule_id: str, settings: Settings,
         scheduler: FlowRunScheduler, store: ObjectStore, now: datetime) -> Batch:
    """The schedule's flow run asks: a normal batch of the stored request. It runs even
    when nothing changed since the last firing (running again is what a schedule is for),
    so the result cache is not asked."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"Schedule {schedule_id!r} not found (deleted?).")
    account = session.get(Account, schedule.account_id)
    spending.check_submission(session, account, now)  # past the limit, no firing
    return batches.create_batch(session, account=account,
                                request=BatchCreate.model_validate(
                                    {**schedule.batch, "use_cache": False}),
                                settings=settings, scheduler=scheduler, store=store,
                                now=now, schedule_id=schedule.id)
