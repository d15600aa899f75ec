"""Any S3-speaking server (MinIO, AWS, Hetzner Object Storage) through the ``minio`` SDK."""

from __future__ import annotations

from datetime import timedelta

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from rgrid_api.storage.base import ObjectInfo, SignedUpload, checked_key


class S3ObjectStore:
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def prepare(self, *, retention_days: int) -> None:
        if not self._client.bucket_exists(self.bucket):
            self._client.make_bucket(self.bucket)
        # a day of grace: S3 counts from the upload, RGrid's expires_at from the record
        rule = Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="rgrid-retention",
                    expiration=Expiration(days=retention_days + 1))
        self._client.set_bucket_lifecycle(self.bucket, LifecycleConfig([rule]))

    def signed_upload(self, key: str, *, size: int, expires: timedelta) -> SignedUpload:
        url = self._client.presigned_put_object(self.bucket, checked_key(key), expires=expires)
        return SignedUpload(url)

    def signed_download(self, key: str, *, expires: timedelta) -> str:
        return self._client.presigned_get_object(self.bucket, checked_key(key), expires=expires)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self._client.stat_object(self.bucket, checked_key(key))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise
        return ObjectInfo(size=info.size, modified=info.last_modified)

    def delete(self, key: str) -> None:
        self._client.remove_object(self.bucket, checked_key(key))
