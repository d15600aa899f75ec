"""``GET /metrics``: Prometheus' text format, for whoever holds the admin key (the counts
are the whole installation's, every account's)."""

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rgrid_api.api.deps import require_admin

router = APIRouter(tags=["metrics"])


@router.get("/metrics", dependencies=[Depends(require_admin)], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics),
                    media_type=CONTENT_TYPE_LATEST)
