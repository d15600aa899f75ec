"""What the batch flow asks of the API, with the worker token."""

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from rgrid_api.api.deps import SessionDep, require_worker
from rgrid_api.schemas import BatchPlan
from rgrid_api.services import batches

router = APIRouter(prefix="/api/v1/worker/batches", tags=["worker"],
                   dependencies=[Depends(require_worker)])


class CancelRequest(BaseModel):
    reason: str


@router.get("/{batch_id}/plan")
def plan(batch_id: str, session: SessionDep) -> BatchPlan:
    return batches.plan(session, batch_id)


@router.post("/{batch_id}/cancel-queued")
def cancel_queued(batch_id: str, body: CancelRequest, session: SessionDep) -> dict:
    return {"cancelled": batches.cancel_queued(session, batch_id, body.reason)}


@router.post("/{batch_id}/finish", status_code=status.HTTP_204_NO_CONTENT)
def finish(batch_id: str, session: SessionDep) -> None:
    batches.finish(session, batch_id)
