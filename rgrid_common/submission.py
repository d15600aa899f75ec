"""What a user submits: a script with its limits (``ScriptSpec``), the arguments and input
files of one run of it (``ItemSpec``), and the requests made of them — an execution, a
batch, a schedule, and the offer to upload input files first (``UploadRequest``). The CLI
builds these; the API receives them. ``built`` turns a model that refuses its fields into
the same error the API would answer."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from rgrid_common.blobs import BlobRef
from rgrid_common.errors import InvalidInput
from rgrid_common.metadata import Tags
from rgrid_common.validation import Text, check_env, invalid_request

Model = TypeVar("Model", bound=BaseModel)


def built(model: type[Model], **fields) -> Model:
    """``model(**fields)``; a field it refuses is an ``InvalidInput`` naming it."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise invalid_request(exc.errors()) from None


MAX_BLOBS_PER_OFFER = 1000  # the most files one `POST /api/v1/uploads` asks about


class UploadRequest(BaseModel):
    """Which of these blobs the store lacks, each answered with where to upload it."""
    files: list[BlobRef] = Field(max_length=MAX_BLOBS_PER_OFFER)
    force: bool = Field(False, description="Upload even what the store already holds.")


class InputFile(BlobRef):
    arg_indexes: list[int] = Field(min_length=1, description="The args that name this file.")
    name: Text = Field(min_length=1, max_length=255)


class ScriptSpec(BaseModel):
    """What runs, and within which limits: shared by an execution and a batch's items."""

    script_name: Text = Field(min_length=1, max_length=255)
    script_content: Text
    env: dict[Text, Text] = Field(default_factory=dict, max_length=1000)
    runtime: Text | None = Field(None, max_length=100)
    memory_mb: int | None = Field(None, gt=0)
    disk_mb: int | None = Field(None, gt=0, description="What /work may hold, in MB.")
    cpus: float | None = Field(None, gt=0, allow_inf_nan=False)
    timeout_seconds: int | None = Field(None, gt=0)
    requirements: Text | None = Field(
        None, max_length=64 * 1024,
        description="requirements.txt content: installed into a cached dependency layer.")
    metadata: Tags = Field(default_factory=dict,
                           description="Tags to find it by (`rgrid list --metadata k=v`); "
                                       "a batch's items inherit its tags.")
    use_cache: bool = Field(True, description="Serve an identical earlier success from "
                                              "the result cache instead of running.")

    @field_validator("env")
    @classmethod
    def _env_the_runtime_accepts(cls, env: dict[str, str]) -> dict[str, str]:
        """Refused here (422), not at run time after every attempt failed."""
        try:
            return check_env(env)
        except InvalidInput as exc:
            raise ValueError(f"{exc.message} {exc.hint}") from exc


class ItemSpec(BaseModel):
    args: list[Text] = Field(default_factory=list, max_length=1000)
    inputs: list[InputFile] = Field(default_factory=list, max_length=1000)


class ExecutionCreate(ScriptSpec, ItemSpec):
    pass


class BatchCreate(ScriptSpec):
    items: list[ItemSpec] = Field(min_length=1, max_length=10_000)
    parallel: int = Field(10, ge=1, le=1000, description="Items running at once, pool-wide.")
    fail_fast: bool = Field(False, description="Cancel what has not started on a failure.")


class ScheduleCreate(BaseModel):
    cron: Text | None = Field(None, max_length=120, description="Five-field cron, UTC.")
    every_seconds: int | None = Field(None, ge=10, le=366 * 24 * 3600,
                                      description="Or a fixed interval.")
    batch: BatchCreate

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleCreate:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("give exactly one of cron and every_seconds")
        return self


class ApiKeyCreate(BaseModel):
    """A new key for the calling account (``rgrid keys create``)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="What the key is for, to tell keys apart.")
    expires_in_days: int | None = Field(None, ge=1, le=3650,
                                        description="Unset: the key never expires.")
