"""Worker nodes: shown to every account (no account's data is in them); reported by the
autoscaler with the control-plane token, which also issues and revokes each worker's own
token."""


from fastapi import APIRouter, Depends, status

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep, require_control_plane
from rgrid_api.schemas import AutoscalerReport, Capacity, Load, NodeList
from rgrid_api.services import nodes, worker_tokens
from rgrid_common.protocol import WorkerTokenIssued, WorkerTokenRequest

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])
control_router = APIRouter(prefix="/api/v1/control", tags=["control"],
                           dependencies=[Depends(require_control_plane)])


@router.get("")
def list_nodes(_account: CurrentAccount, session: SessionDep, now: NowDep) -> NodeList:
    """Live nodes, those deleted in the last day, and the autoscaler's latest decisions."""
    return nodes.public_nodes(session, deleted_since=now - nodes.SHOWN_AFTER_DELETION)


@router.get("/capacity")
def capacity(_account: CurrentAccount, session: SessionDep, now: NowDep) -> Capacity:
    """What queued work waits for: nodes being provisioned, or why none can be."""
    return nodes.capacity(session, now)


@control_router.post("/autoscaler/report", status_code=status.HTTP_204_NO_CONTENT)
def autoscaler_report(body: AutoscalerReport, session: SessionDep, now: NowDep) -> None:
    nodes.record_report(session, body, now)


@control_router.get("/load")
def load(session: SessionDep) -> Load:
    return nodes.load(session)


@control_router.post("/worker-tokens", status_code=status.HTTP_201_CREATED)
def issue_worker_token(body: WorkerTokenRequest, session: SessionDep,
                       now: NowDep) -> WorkerTokenIssued:
    """A new token for one worker, shown once: the node gets it and nothing else."""
    return WorkerTokenIssued(worker=body.worker, token=worker_tokens.issue(
        session, worker=body.worker, now=now))


@control_router.delete("/worker-tokens/{worker}")
def revoke_worker_tokens(worker: str, session: SessionDep, now: NowDep) -> dict:
    """Every token of a worker stops working at once (its node was deleted)."""
    return {"revoked": worker_tokens.revoke(session, worker=worker, now=now)}
