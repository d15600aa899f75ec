"""One TLS context per process for its HTTP clients: each ``httpx.Client`` would otherwise
load the CA bundle into a context of its own when it is made (~25 ms of CPU; measured on
the CLI's start and, with py-spy, on a worker's flow run)."""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()
