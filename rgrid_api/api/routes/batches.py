from datetime import datetime

from fastapi import APIRouter, Depends, status

from rgrid_api.api.deps import (CurrentAccount, IdempotencyKey, NowDep, SchedulerDep,
                                SessionDep, SettingsDep, StoreDep, submission_allowed)
from rgrid_api.api.routes.executions import to_public
from rgrid_api.schemas import (BatchCreate, BatchOutputs, BatchPublic, CancelOutcome,
                               ExecutionList)
from rgrid_api.services import batches

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])


@router.post("", status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(submission_allowed)])
def create_batch(body: BatchCreate, account: CurrentAccount, session: SessionDep,
                 settings: SettingsDep, scheduler: SchedulerDep, store: StoreDep,
                 now: NowDep, idempotency_key: IdempotencyKey = None) -> BatchPublic:
    """The batch, with what it is expected to cost (``estimate``)."""
    return batches.submit_batch(session, account=account, request=body, settings=settings,
                                scheduler=scheduler, store=store, now=now,
                                idempotency_key=idempotency_key)


@router.get("/{batch_id}")
def get_batch(batch_id: str, account: CurrentAccount, session: SessionDep) -> BatchPublic:
    return batches.public_batch(session, batches.get_batch(session, account=account,
                                                           batch_id=batch_id))


@router.post("/{batch_id}/cancel")
def cancel_batch(batch_id: str, account: CurrentAccount, session: SessionDep,
                 now: NowDep) -> CancelOutcome:
    """Its queued items never start, its running ones are stopped; a finished batch is
    left as it is (``cancelled`` is 0)."""
    batch, cancelled = batches.cancel_batch(session, account=account, batch_id=batch_id,
                                            now=now)
    return CancelOutcome(id=batch.id, status=batch.status, cancelled=cancelled)


@router.get("/{batch_id}/executions")
def list_batch_executions(batch_id: str, account: CurrentAccount, session: SessionDep,
                          finished_since: datetime | None = None) -> ExecutionList:
    batch = batches.get_batch(session, account=account, batch_id=batch_id)
    return ExecutionList(executions=[
        to_public(e) for e in batches.batch_executions(session, batch, finished_since)])


@router.get("/{batch_id}/outputs")
def list_batch_outputs(batch_id: str, account: CurrentAccount, session: SessionDep,
                       settings: SettingsDep, store: StoreDep, now: NowDep,
                       finished_since: datetime | None = None) -> BatchOutputs:
    """The outputs of the items finished (since ``finished_since``), small ones inline:
    what ``rgrid run --batch`` fetches as items finish, one request for all of them."""
    batch = batches.get_batch(session, account=account, batch_id=batch_id)
    return BatchOutputs(items=batches.finished_outputs(
        session, store, batch=batch, finished_since=finished_since, settings=settings,
        now=now))
