"""Endpoints the execute flow calls on the worker's side, with the worker's own token."""

from fastapi import APIRouter, Response, status

from rgrid_api.api.deps import (CurrentWorker, NowDep, SessionDep, SettingsDep, StarterDep,
                                StoreDep)
from rgrid_api.services import artifacts, attempts, finish_reports, logs, worker_side
from rgrid_common.protocol import (AttemptReport, ClaimRequest, FinishRequest, GiveBackRequest,
                                   JobSpec, LogBatch, OutputCompletion, OutputUploadRequest,
                                   OutputUploads)

router = APIRouter(prefix="/api/v1/worker/executions", tags=["worker"])


@router.get("/{execution_id}/status")
def execution_status(execution_id: str, session: SessionDep, _worker: CurrentWorker) -> dict:
    return {"status": worker_side.status_of(session, execution_id)}


@router.post("/{execution_id}/claim")
def claim(execution_id: str, body: ClaimRequest, session: SessionDep, worker: CurrentWorker,
          settings: SettingsDep, store: StoreDep, now: NowDep) -> JobSpec:
    return worker_side.claim_execution(
        session, execution_id=execution_id, flow_run_id=body.flow_run_id,
        worker=worker_side.claiming_as(worker, body.worker), settings=settings, store=store,
        now=now)


@router.post("/{execution_id}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
def heartbeat(execution_id: str, body: AttemptReport, session: SessionDep,
              worker: CurrentWorker, now: NowDep) -> None:
    """409 tells a worker its attempt is no longer current (it was given to another)."""
    worker_side.record_heartbeat(session, execution_id=execution_id, worker=worker,
                                 attempt=body.attempt, now=now)


@router.post("/{execution_id}/give-back", status_code=status.HTTP_204_NO_CONTENT)
def give_back(execution_id: str, body: GiveBackRequest, session: SessionDep,
              worker: CurrentWorker, settings: SettingsDep, starter: StarterDep,
              now: NowDep) -> None:
    """The attempt failed for a reason not the script's own: retried, or failed when
    the attempts are spent."""
    execution = worker_side.running_execution(session, execution_id, worker=worker)
    attempts.give_back(session, execution, attempt=body.attempt or execution.attempt,
                       reason=body.reason, settings=settings, starter=starter, now=now)


@router.post("/{execution_id}/logs", status_code=status.HTTP_204_NO_CONTENT)
def append_logs(execution_id: str, body: LogBatch, session: SessionDep,
                worker: CurrentWorker, settings: SettingsDep) -> None:
    worker_side.ensure_claimed_by(worker_side.execution_by_id(session, execution_id), worker)
    logs.append_logs(session, execution_id=execution_id, chunks=body.chunks,
                     settings=settings)


@router.post("/{execution_id}/output-uploads")
def output_uploads(execution_id: str, body: OutputUploadRequest, session: SessionDep,
                   worker: CurrentWorker, settings: SettingsDep,
                   store: StoreDep) -> OutputUploads:
    execution = worker_side.reporting_execution(session, execution_id, worker=worker,
                                                attempt=body.attempt)
    return OutputUploads(uploads=artifacts.offer_output_uploads(
        store, execution=execution, files=body.files, settings=settings))


@router.post("/{execution_id}/output-uploads/complete",
             status_code=status.HTTP_204_NO_CONTENT)
def complete_output_upload(execution_id: str, body: OutputCompletion, session: SessionDep,
                           worker: CurrentWorker, store: StoreDep) -> None:
    execution = worker_side.reporting_execution(session, execution_id, worker=worker,
                                                attempt=body.attempt)
    artifacts.complete_output_upload(store, execution=execution, completion=body)


@router.post("/{execution_id}/finish", response_model=JobSpec,
             responses={204: {"description": "Taken; no next item claimed or none may "
                              "start."}})
def finish(execution_id: str, body: FinishRequest, session: SessionDep, worker: CurrentWorker,
           settings: SettingsDep, store: StoreDep, now: NowDep) -> JobSpec | Response:
    """The report; with ``then_claim``, a shard's next item is claimed in the same
    transaction (sent again, the report is a no-op and the claim gets the item already
    held). The report of a batch's last item finishes the batch."""
    job = finish_reports.take_report(session, execution_id=execution_id, worker=worker,
                                     request=body, store=store, settings=settings, now=now)
    return job if job else Response(status_code=status.HTTP_204_NO_CONTENT)
