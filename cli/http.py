"""The CLI's HTTP clients, all with the process's one TLS context
(``rgrid_common.tls``): a noticeable part of a command that a result-cache hit finishes in
under a second."""

from __future__ import annotations

import httpx

from rgrid_common.tls import tls_context


def client(**options) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **options)
