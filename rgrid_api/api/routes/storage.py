"""The local object store's signed URLs (S3 serves its own; these answer only when the
local backend is configured)."""

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from rgrid_api.api.deps import StoreDep
from rgrid_api.storage.local import ROUTE, LocalObjectStore
from rgrid_common.errors import Forbidden, InvalidInput, NotFound
from rgrid_common.files import content_type

router = APIRouter(prefix=ROUTE, tags=["storage"], include_in_schema=False)

SIGNATURE_HINT = "Ask the API for a new URL; signed URLs expire after 15 minutes."


def _local(store) -> LocalObjectStore:
    if not isinstance(store, LocalObjectStore):
        raise NotFound("This server does not serve objects itself.")
    return store


@router.put("/{key:path}")
async def upload(key: str, request: Request, store: StoreDep, expires: int, size: int,
                 sig: str) -> Response:
    local = _local(store)
    if not local.verify("PUT", key, expires, size, sig):
        raise Forbidden("The upload URL is invalid or has expired.", SIGNATURE_HINT)
    if request.headers.get("content-length") != str(size):
        raise InvalidInput(f"This URL accepts exactly {size} bytes.",
                           "Send the file the URL was issued for.")
    if not await local.receive(key, request.stream(), size):
        raise InvalidInput("The upload was incomplete.", "Retry the upload.")
    return Response(status_code=200)


@router.get("/{key:path}")
def download(key: str, store: StoreDep, expires: int, sig: str,
             enc: Literal["identity", "gzip"] = "identity") -> FileResponse:
    local = _local(store)
    if not local.verify("GET", key, expires, None, sig, enc):
        raise Forbidden("The download URL is invalid or has expired.", SIGNATURE_HINT)
    path = local.path_of(key)
    if not path.is_file():
        raise NotFound("The object no longer exists.", "It may have expired.")
    media_type = content_type(path.name)
    headers = {"Content-Encoding": enc} if enc != "identity" else None
    return FileResponse(path, media_type=media_type, headers=headers)
