"""The CLI's only way out: HTTP calls to the RGrid API, failures turned into typed errors."""

from __future__ import annotations

from typing import Any

import httpx

from cli import http
from cli.config import CliSettings
from rgrid_common.errors import ApiUnreachable, Unauthorized, error_from_problem

START_HINT = "Start it with `./scripts/dev up`, or point RGRID_API_URL at a running API."


class ApiClient:
    def __init__(self, settings: CliSettings, *, key: str | None = None,
                 require_key: bool = True) -> None:
        self.api_url = settings.api_url.rstrip("/")
        token = key or (settings.api_key.get_secret_value() if settings.api_key else None)
        if require_key and not token:
            raise Unauthorized("No API key is configured.",
                               "Run `rgrid login` (or `./scripts/dev up` on a single machine), "
                               "or set RGRID_API_KEY.")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http.client(base_url=self.api_url, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", path, params=clean)

    def post(self, path: str, body: dict) -> Any:
        return self._request("POST", path, json=body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"RGrid API not reachable at {self.api_url}.",
                                 START_HINT) from exc
        if response.is_success:
            return response.json() if response.content else None
        try:
            problem = response.json()
        except ValueError:
            problem = {"message": f"The API answered {response.status_code} "
                                  f"{response.reason_phrase}."}
        raise error_from_problem(problem)

    def close(self) -> None:
        self._http.close()
