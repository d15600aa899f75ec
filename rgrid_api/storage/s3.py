"""Any S3-speaking server (MinIO, AWS, Hetzner Object Storage) through the ``minio`` SDK."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.datatypes import Part
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from rgrid_api.storage.base import ObjectInfo, SignedUpload, UploadPart, checked_key
from urllib3.exceptions import HTTPError as StorageTransportError

from rgrid_common.errors import InvalidInput, ServiceUnavailable

MULTIPART_ABOVE_BYTES = 100 * 1024 * 1024
PART_BYTES = 64 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit


@contextmanager
def _reaching_storage() -> Iterator[None]:
    """The storage server away (restarting, out of reach, answering 5xx after the SDK's
    own retries) is a 503 with Retry-After that workers send again, not a 500 that fails
    the attempt: found by the chaos suite, S3 down 30 s."""
    try:
        yield
    except (StorageTransportError, ServerError, InvalidResponseError) as exc:
        raise ServiceUnavailable("The RGrid API cannot reach its storage server just now.",
                                 "It is restarting or out of reach; try again in a few "
                                 "seconds.") from exc


def _unless_absent(call, *args):
    """``call(*args)``, or None when the object it names is not there."""
    try:
        return call(*args)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return None
        raise


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

    def signed_upload(self, key: str, *, size: int, expires: timedelta,
                      encoding: str = "identity") -> SignedUpload:
        """With gzip the client sends ``Content-Encoding: gzip``, which S3 keeps as the
        object's metadata and serves back on every GET."""
        with _reaching_storage():
            key = checked_key(key)
            headers = {"Content-Encoding": encoding} if encoding != "identity" else {}
            if size <= MULTIPART_ABOVE_BYTES:
                return SignedUpload(self._client.presigned_put_object(self.bucket, key,
                                                                      expires=expires),
                                    headers=headers)
            return self._signed_multipart(key, size, expires, headers)

    def _signed_multipart(self, key: str, size: int, expires: timedelta,
                          headers: dict[str, str]) -> SignedUpload:
        """Above 100 MB: parts that are retried and sent in parallel on their own. minio
        has no public call to open or complete a presigned multipart upload; these
        internal ones are pinned with the minio version."""
        part_size = max(PART_BYTES, math.ceil(size / MAX_PARTS))
        upload_id = self._client._create_multipart_upload(self.bucket, key, dict(headers))
        parts = tuple(
            UploadPart(number, self._client.get_presigned_url(
                "PUT", self.bucket, key, expires=expires,
                extra_query_params={"partNumber": str(number), "uploadId": upload_id}))
            for number in range(1, math.ceil(size / part_size) + 1))
        return SignedUpload(upload_id=upload_id, part_size=part_size, parts=parts)

    def complete_upload(self, key: str, *, upload_id: str,
                        parts: list[tuple[int, str]]) -> None:
        with _reaching_storage():
            try:
                self._client._complete_multipart_upload(
                    self.bucket, checked_key(key), upload_id,
                    [Part(number, etag) for number, etag in sorted(parts)])
            except S3Error as exc:
                raise InvalidInput(f"The storage server refused to complete the upload: "
                                   f"{exc.code}.", "Run the command again.") from exc

    def signed_download(self, key: str, *, expires: timedelta,
                        encoding: str = "identity") -> str:
        with _reaching_storage():
            return self._client.presigned_get_object(self.bucket, checked_key(key),
                                                     expires=expires)

    def stat(self, key: str) -> ObjectInfo | None:
        with _reaching_storage():
            info = _unless_absent(self._client.stat_object, self.bucket, checked_key(key))
            return info and ObjectInfo(size=info.size, modified=info.last_modified)

    def read(self, key: str) -> bytes | None:
        with _reaching_storage():
            response = _unless_absent(self._client.get_object, self.bucket, checked_key(key))
            if response is None:
                return None
            try:
                return response.read(decode_content=False)  # gzip stays as stored
            except BaseException:
                response.close()  # a connection read halfway cannot serve the next request
                raise
            finally:
                # read to the end, the connection goes back to the pool: listings and
                # claims read many small objects, one new connection each would be waste
                response.release_conn()

    def write(self, key: str, data: bytes, *, encoding: str = "identity") -> None:
        """With gzip, stored with ``Content-Encoding: gzip``, as a signed upload sets it."""
        with _reaching_storage():
            metadata = {"Content-Encoding": encoding} if encoding != "identity" else None
            self._client.put_object(self.bucket, checked_key(key), io.BytesIO(data),
                                    len(data), metadata=metadata)

    def delete(self, key: str) -> None:
        with _reaching_storage():
            self._client.remove_object(self.bucket, checked_key(key))
