"""Prefect blocks holding RGrid's configuration: object storage (a prefect-aws ``S3Bucket``
with ``MinIOCredentials``); the Hetzner token and runtime catalogue come later."""
