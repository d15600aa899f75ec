"""The S3 object store's location and credentials, kept as a prefect-aws ``S3Bucket`` block
(with ``MinIOCredentials``, which fit any S3-speaking server) on the Prefect server: the
secret lives in one place, visible and editable in the Prefect UI, and the RGrid API reads
it at start-up with ``RGRID_STORAGE_BLOCK=<name>``."""

from __future__ import annotations

from dataclasses import dataclass

from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_aws import MinIOCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters

DEFAULT_BLOCK_NAME = "rgrid-artifacts"


@dataclass(frozen=True)
class S3Location:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"


def save_s3_block(prefect_api_url: str, location: S3Location,
                  name: str = DEFAULT_BLOCK_NAME) -> None:
    credentials = MinIOCredentials(
        minio_root_user=location.access_key, minio_root_password=location.secret_key,
        region_name=location.region,
        aws_client_parameters=AwsClientParameters(endpoint_url=location.endpoint))
    with temporary_settings({PREFECT_API_URL: prefect_api_url}):
        S3Bucket(bucket_name=location.bucket, credentials=credentials).save(
            name, overwrite=True, _sync=True)


def load_s3_location(prefect_api_url: str, name: str) -> S3Location:
    with temporary_settings({PREFECT_API_URL: prefect_api_url}):
        block = S3Bucket.load(name, _sync=True)
    credentials = block.credentials
    if not isinstance(credentials, MinIOCredentials):
        raise TypeError(f"Block {name!r} must use MinIOCredentials, "
                        f"not {type(credentials).__name__}.")
    return S3Location(
        endpoint=credentials.aws_client_parameters.endpoint_url,
        access_key=credentials.minio_root_user,
        secret_key=credentials.minio_root_password.get_secret_value(),
        bucket=block.bucket_name, region=credentials.region_name or "us-east-1")
