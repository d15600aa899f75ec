from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlparse

from minio import Minio

from rgrid_api.core.config import Settings
from rgrid_api.storage.base import ObjectStore
from rgrid_api.storage.local import LocalObjectStore
from rgrid_api.storage.s3 import S3ObjectStore
from rgrid_common.errors import ServiceUnavailable


def build_object_store(settings: Settings, clock: Callable[[], datetime]) -> ObjectStore:
    if settings.storage_backend == "s3":
        endpoint = urlparse(settings.s3_endpoint)
        client = Minio(endpoint.netloc, access_key=settings.s3_access_key,
                       secret_key=settings.s3_secret_key.get_secret_value(),
                       secure=endpoint.scheme == "https", region=settings.s3_region)
        return S3ObjectStore(client, settings.s3_bucket)
    if settings.storage_signing_key is None:
        raise ServiceUnavailable("The local object store has no signing key.",
                                 "Set RGRID_STORAGE_SIGNING_KEY for the API.")
    return LocalObjectStore(settings.storage_dir,
                            signing_key=settings.storage_signing_key.get_secret_value().encode(),
                            public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                            clock=clock)
