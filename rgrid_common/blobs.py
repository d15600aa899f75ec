"""A stored file as every side names it: its hash, its size and how it is stored. Apart
from ``rgrid_common.protocol`` so that the CLI, which needs only this, does not build the
worker protocol's models at each start (~25 ms)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

SHA256 = Field(pattern=r"^[0-9a-f]{64}$")

# What a database integer column holds: larger numbers are refused at the door (422),
# never left to overflow in the database (a 500).
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class BlobRef(BaseModel):
    sha256: str = SHA256
    size: int = Field(ge=0, le=MAX_INT64, description="Bytes of the file itself.")
    encoding: Literal["identity", "gzip"] = Field(
        "identity", description="gzip: stored and sent compressed, served with "
                                "Content-Encoding: gzip so clients get the file back as is.")
    stored_size: int | None = Field(None, ge=0, le=MAX_INT64,
                                    description="Bytes as stored; with gzip.")

    @property
    def bytes_stored(self) -> int:
        return self.size if self.stored_size is None else self.stored_size

    @model_validator(mode="after")
    def _gzip_has_stored_size(self) -> BlobRef:
        if self.encoding == "gzip" and self.stored_size is None:
            raise ValueError("stored_size is required with gzip encoding")
        return self
