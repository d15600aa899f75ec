"""One TLS context per process for its HTTP clients, whose CA bundle is read at the first
TLS handshake.

Each ``httpx.Client`` would otherwise load the CA bundle into a context of its own when it
is made (~25 ms of CPU, measured on the CLI's start and, with py-spy, on a worker's flow
run), and even a client that only ever speaks plain http (the single-machine default's
API) would pay for it once.
"""

from __future__ import annotations

import os
import ssl
import threading
from functools import lru_cache

import certifi


class VerifyingContext(ssl.SSLContext):
    """Verifies as httpx's default context does (``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else
    certifi's bundle), hostname included; the bundle is read at the first handshake. Until
    then it trusts no CA at all, so nothing can be accepted unverified."""

    def __new__(cls) -> VerifyingContext:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        context._cas_lock = threading.Lock()
        context._cas_loaded = False
        return context

    def wrap_socket(self, *args, **kwargs) -> ssl.SSLSocket:
        self._load_cas()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs) -> ssl.SSLObject:
        self._load_cas()
        return super().wrap_bio(*args, **kwargs)

    def _load_cas(self) -> None:
        with self._cas_lock:
            if self._cas_loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                self.load_verify_locations(cafile=certifi.where())
            self._cas_loaded = True


@lru_cache
def tls_context() -> ssl.SSLContext:
    return VerifyingContext()
