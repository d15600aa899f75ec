from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, status

from rgrid_api.api.deps import (CurrentAccount, IdempotencyKey, NowDep, SchedulerDep,
                                StarterDep,
                                SessionDep, SettingsDep, StoreDep, submission_allowed)
from rgrid_api.core.config import Settings
from rgrid_api.models import MAX_LOG_SEQ, Execution
from rgrid_api.schemas import (ArtifactList, BatchPublic, BatchRetry, CancelOutcome,
                               ExecutionCreate, ExecutionList, ExecutionPublic, LogChunkPublic,
                               LogPage)
from rgrid_api.services import artifacts, batches, costs, executions, logs
from rgrid_common.metadata import MAX_TAGS, parse_tags
from rgrid_common.status import ArtifactKind, ExecutionStatus

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])


def to_public(execution: Execution, settings: Settings | None = None) -> ExecutionPublic:
    """With ``settings``, the link to its flow run in the Prefect UI too."""
    public = ExecutionPublic.model_validate(execution, from_attributes=True)
    public.duration_seconds = executions.duration_seconds(execution)
    if settings is not None and execution.flow_run_id:
        public.flow_run_url = settings.flow_run_link_base + execution.flow_run_id
    return public


@router.post("", status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(submission_allowed)])
def create_execution(body: ExecutionCreate, account: CurrentAccount, session: SessionDep,
                     settings: SettingsDep, starter: StarterDep, store: StoreDep,
                     now: NowDep, idempotency_key: IdempotencyKey = None) -> ExecutionPublic:
    """Answers once the execution is recorded; its flow run follows (``flow_run_id`` is
    null until then)."""
    return to_public(executions.create_execution(
        session, account=account, request=body, settings=settings, starter=starter,
        store=store, now=now, idempotency_key=idempotency_key))


@router.post("/retry", status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(submission_allowed)])
def retry_batch(body: BatchRetry, account: CurrentAccount, session: SessionDep,
                settings: SettingsDep, scheduler: SchedulerDep, store: StoreDep,
                now: NowDep) -> BatchPublic:
    """A new batch of the items of ``batch_id`` that did not succeed."""
    batch = batches.retry_failed(session, account=account, batch_id=body.batch_id,
                                 settings=settings, scheduler=scheduler, store=store, now=now)
    return batches.public_batch(session, batch)


@router.post("/{execution_id}/retry", status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(submission_allowed)])
def retry_execution(execution_id: str, account: CurrentAccount, session: SessionDep,
                    settings: SettingsDep, starter: StarterDep, store: StoreDep,
                    now: NowDep) -> ExecutionPublic:
    return to_public(executions.retry_execution(
        session, account=account, execution_id=execution_id, settings=settings,
        starter=starter, store=store, now=now))


@router.post("/{execution_id}/cancel")
def cancel_execution(execution_id: str, account: CurrentAccount, session: SessionDep,
                     scheduler: SchedulerDep, now: NowDep) -> CancelOutcome:
    """Queued, it never starts; running, its worker stops it within a heartbeat; finished,
    nothing changes (``cancelled`` is 0)."""
    execution, cancelled = executions.cancel_execution(
        session, account=account, execution_id=execution_id, scheduler=scheduler, now=now)
    return CancelOutcome(id=execution.id, status=execution.status, cancelled=int(cancelled))


@router.get("")
def list_executions(account: CurrentAccount, session: SessionDep,
                    status: ExecutionStatus | None = None,
                    since: datetime | None = Query(None, description="Created at or after."),
                    until: datetime | None = Query(None, description="Created before."),
                    batch_id: str | None = Query(None, max_length=32),
                    metadata: list[str] = Query(
                        [], max_length=MAX_TAGS,
                        description="key=value, repeatable: only executions with every tag."),
                    cursor: str | None = Query(None, max_length=200,
                                               description="next_cursor of the page before."),
                    limit: int = Query(50, ge=1, le=1000)) -> ExecutionList:
    where = executions.ExecutionFilter(status=status, since=since, until=until,
                                       batch_id=batch_id, tags=parse_tags(metadata))
    rows, next_cursor = executions.list_executions(session, account=account, where=where,
                                                   limit=limit, cursor=cursor)
    return ExecutionList(executions=[to_public(row) for row in rows], next_cursor=next_cursor)


@router.get("/{execution_id}")
def get_execution(execution_id: str, account: CurrentAccount, session: SessionDep,
                  settings: SettingsDep) -> ExecutionPublic:
    """With what its cost was worked out from (``cost_basis``)."""
    execution = executions.get_execution(session, account=account, execution_id=execution_id)
    public = to_public(execution, settings)
    public.cost_basis = costs.basis_of(session, execution, settings)
    return public


@router.get("/{execution_id}/logs")
def read_logs(execution_id: str, account: CurrentAccount, session: SessionDep,
              after: int = Query(-1, ge=-1, le=MAX_LOG_SEQ,
                                 description="The last seq read; -1 for the start."),
              stream: Literal["stdout", "stderr"] | None = None,
              limit: int = Query(1000, ge=1, le=5000)) -> LogPage:
    execution = executions.get_execution(session, account=account, execution_id=execution_id)
    # Read the status before the chunks: a finished status then guarantees every chunk
    # the worker sent is in this page or a later one.
    current = ExecutionStatus(execution.status)
    chunks = logs.read_logs(session, execution=execution, after=after, stream=stream,
                                  limit=limit)
    return LogPage(
        chunks=[LogChunkPublic(seq=c.seq, stream=c.stream, data=c.data) for c in chunks],
        next_after=chunks[-1].seq if chunks else after,
        status=current,
    )


@router.get("/{execution_id}/artifacts")
def list_artifacts(execution_id: str, account: CurrentAccount, session: SessionDep,
                   settings: SettingsDep, store: StoreDep, now: NowDep,
                   kind: ArtifactKind | None = None, inline: bool = False) -> ArtifactList:
    """With ``inline``, small files (64 KB or less) carry their bytes, base64 as stored."""
    execution = executions.get_execution(session, account=account, execution_id=execution_id)
    return ArtifactList(artifacts=artifacts.public_artifacts(
        session, store, execution=execution, kind=kind.value if kind else None,
        settings=settings, now=now, inline=inline))
