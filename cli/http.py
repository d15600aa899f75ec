"""One TLS context for every HTTP client of the CLI: each ``httpx.Client`` would otherwise
load the CA bundle into its own (~45 ms), a noticeable part of a command that a
result-cache hit finishes in under a second."""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    return httpx.create_ssl_context()


def client(**options) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **options)
