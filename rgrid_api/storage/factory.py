from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlparse

from minio import Minio

from blocks.object_storage import S3Location, load_s3_location
from rgrid_api.core.config import Settings
from rgrid_api.storage.base import ObjectStore
from rgrid_api.storage.local import LocalObjectStore
from rgrid_api.storage.s3 import S3ObjectStore
from rgrid_common.errors import ServiceUnavailable


def build_object_store(settings: Settings, clock: Callable[[], datetime]) -> ObjectStore:
    if settings.storage_backend == "s3":
        return _s3_store(_s3_location(settings))
    if settings.storage_signing_key is None:
        raise ServiceUnavailable("The local object store has no signing key.",
                                 "Set RGRID_STORAGE_SIGNING_KEY for the API.")
    return LocalObjectStore(settings.storage_dir,
                            signing_key=settings.storage_signing_key.get_secret_value().encode(),
                            public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                            clock=clock)


def _s3_location(settings: Settings) -> S3Location:
    if settings.storage_block:
        try:
            return load_s3_location(settings.prefect_api_url, settings.storage_block)
        except Exception as exc:  # noqa: BLE001 - any failure here stops the start, named
            raise ServiceUnavailable(
                f"Could not load the S3Bucket block {settings.storage_block!r} from "
                f"{settings.prefect_api_url}: {exc}",
                "Create it (see README, 'Object storage') or unset RGRID_STORAGE_BLOCK.",
            ) from exc
    return S3Location(endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                      secret_key=settings.s3_secret_key.get_secret_value(),
                      bucket=settings.s3_bucket, region=settings.s3_region)


def _s3_store(location: S3Location) -> S3ObjectStore:
    endpoint = urlparse(location.endpoint)
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        raise ServiceUnavailable(f"Invalid S3 endpoint {location.endpoint!r}.",
                                 "Use a URL such as https://fsn1.your-objectstorage.com.")
    client = Minio(endpoint.netloc, access_key=location.access_key,
                   secret_key=location.secret_key, secure=endpoint.scheme == "https",
                   region=location.region)
    return S3ObjectStore(client, location.bucket)
