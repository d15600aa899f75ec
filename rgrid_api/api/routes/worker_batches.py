"""What the batch and schedule flows ask of the API, with the worker's own token. Any
worker may coordinate any batch (Prefect hands coordinators to any node); items are
claimed in the worker's own name, and reported for as in ``worker.py``."""

from fastapi import APIRouter, Depends, Response, status

from rgrid_api.api.deps import (CurrentWorker, NowDep, SchedulerDep, SessionDep, SettingsDep,
                                StoreDep, current_worker)
from rgrid_api.services import batches, new_work, schedules, worker_side
from rgrid_common.protocol import BatchPlan, CancelRequest, ClaimRequest, JobSpec, ShardsMade

router = APIRouter(prefix="/api/v1/worker/batches", tags=["worker"],
                   dependencies=[Depends(current_worker)])
schedules_router = APIRouter(prefix="/api/v1/worker/schedules", tags=["worker"],
                             dependencies=[Depends(current_worker)])


@router.post("/{batch_id}/plan")
def plan(batch_id: str, session: SessionDep, settings: SettingsDep, now: NowDep) -> BatchPlan:
    """The coordinator reports in (the sweep replaces a silent one) and gets the counts."""
    return batches.report_in(session, batch_id, settings=settings, now=now)


@router.post("/{batch_id}/claim-next", response_model=JobSpec,
             responses={204: {"description": "Nothing left to claim."}})
def claim_next(batch_id: str, body: ClaimRequest, session: SessionDep, worker: CurrentWorker,
               settings: SettingsDep, store: StoreDep, now: NowDep) -> JobSpec | Response:
    job = batches.claim_next(session, batch_id=batch_id, flow_run_id=body.flow_run_id,
                             worker=worker_side.claiming_as(worker, body.worker),
                             settings=settings, store=store, now=now)
    return job if job else Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{batch_id}/shards-made", status_code=status.HTTP_204_NO_CONTENT)
def shards_made(batch_id: str, body: ShardsMade, settings: SettingsDep) -> None:
    """The pool's waiting workers are told, so they take the shards at once rather than at
    their next poll of Prefect (``rgrid_api.services.new_work``)."""
    new_work.announce(settings.database_url, body.pool)


@router.post("/{batch_id}/cancel-queued")
def cancel_queued(batch_id: str, body: CancelRequest, session: SessionDep,
                  now: NowDep) -> dict:
    return {"cancelled": batches.cancel_queued(session, batch_id, body.reason, now)}


@schedules_router.post("/{schedule_id}/fire", status_code=status.HTTP_201_CREATED)
def fire_schedule(schedule_id: str, session: SessionDep, settings: SettingsDep,
                  scheduler: SchedulerDep, store: StoreDep, now: NowDep) -> dict:
    """A schedule's flow run starts its batch."""
    batch = schedules.fire(session, schedule_id=schedule_id, settings=settings,
                           scheduler=scheduler, store=store, now=now)
    return {"batch_id": batch.id}


@router.post("/{batch_id}/finish", status_code=status.HTTP_204_NO_CONTENT)
def finish(batch_id: str, session: SessionDep, now: NowDep) -> None:
    batches.finish(session, batch_id, now)
