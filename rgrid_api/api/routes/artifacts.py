from fastapi import APIRouter, status

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep, SettingsDep, StoreDep
from rgrid_api.schemas import ArtifactPublic, BlobCompletion, UploadOffers, UploadRequest
from rgrid_api.services import artifacts

router = APIRouter(prefix="/api/v1", tags=["artifacts"])


@router.post("/uploads")
def offer_uploads(body: UploadRequest, account: CurrentAccount, settings: SettingsDep,
                  store: StoreDep, now: NowDep) -> UploadOffers:
    """Which of these blobs the store holds already, and signed URLs for the others."""
    return UploadOffers(files=artifacts.offer_uploads(
        store, account=account, files=body.files, force=body.force, settings=settings, now=now))


@router.post("/uploads/complete", status_code=status.HTTP_204_NO_CONTENT)
def complete_upload(body: BlobCompletion, account: CurrentAccount, store: StoreDep) -> None:
    """Finish a multipart upload once every part is sent."""
    artifacts.complete_blob_upload(store, account=account, completion=body)


@router.get("/artifacts/{artifact_id}")
def get_artifact(artifact_id: str, account: CurrentAccount, session: SessionDep,
                 settings: SettingsDep, store: StoreDep, now: NowDep) -> ArtifactPublic:
    return artifacts.artifact_for_download(session, store, account=account,
                                           artifact_id=artifact_id, settings=settings, now=now)
