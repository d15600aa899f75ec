"""Files: input blobs offered for upload, and an execution's artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from rgrid_api.schemas.common import as_utc_or_none
from rgrid_common.blobs import SHA256
from rgrid_common.protocol import UploadCompletion, UploadTarget


class BlobCompletion(UploadCompletion):
    sha256: str = SHA256
    encoding: Literal["identity", "gzip"] = "identity"


class UploadOffer(UploadTarget):
    sha256: str
    encoding: str
    present: bool


class UploadOffers(BaseModel):
    files: list[UploadOffer]


class ArtifactPublic(BaseModel):
    id: str
    execution_id: str
    kind: str
    path: str
    size: int
    sha256: str
    content_type: str
    encoding: str
    created_at: datetime
    expires_at: datetime
    expired: bool
    expires_in_seconds: int = Field(description="By the server's clock; 0 once expired.")
    url: str | None = Field(None, description="Signed download URL; absent once expired.")
    content: str | None = Field(None, description="Asked for inline: a small file itself, "
                                                  "base64 of its bytes as stored "
                                                  "(rgrid_common.inline).")

    _utc = field_validator("created_at", "expires_at")(as_utc_or_none)


class ArtifactList(BaseModel):
    artifacts: list[ArtifactPublic]


class ItemOutputs(BaseModel):
    execution_id: str
    batch_index: int
    finished_at: datetime
    outputs: list[ArtifactPublic]

    _utc = field_validator("finished_at")(as_utc_or_none)


class BatchOutputs(BaseModel):
    """The outputs of a batch's finished items, small ones inline: what a follower fetches
    as items finish, in one request for all of them."""

    items: list[ItemOutputs]
