"""A fake of the few Hetzner Cloud API endpoints the autoscaler uses (servers create, list,
get, delete; actions), speaking the same JSON over real HTTP on 127.0.0.1, so the real
``hcloud`` client drives it. It records every request and injects failures: an HTTP status
with Hetzner's error body, a quota error, a delay past the client's timeout."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Failure:
    method: str
    path_prefix: str
    status: int
    code: str
    delay_seconds: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    body: dict | None


@dataclass
class FakeHetzner:
    """``servers`` by id; ``max_servers`` is the project's quota."""

    max_servers: int = 10
    # net euros an hour, by server type and location, as Hetzner's API writes them
    hourly_prices: dict[tuple[str, str], str] = field(
        default_factory=lambda: {("cx22", "fsn1"): "0.0060000000"})
    servers: dict[int, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeHetzner:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args) -> None:  # noqa: A002 - base class name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:  # noqa: N802
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # --- what tests do ------------------------------------------------------------------

    def fail_next(self, method: str, path_prefix: str, *, status: int = 500,
                  code: str = "server_error", delay_seconds: float = 0.0,
                  times: int = 1) -> None:
        for _ in range(times):
            self.failures.append(Failure(method, path_prefix, status, code, delay_seconds))

    def boot(self, name: str) -> dict:
        """The server is up: status ``running`` (what cloud-init would then act on)."""
        with self._lock:
            server = next(s for s in self.servers.values() if s["name"] == name)
            server["status"] = "running"
            return server

    def backdate(self, name: str, seconds: float) -> None:
        """The server was created ``seconds`` earlier: the provider's clock, injected."""
        with self._lock:
            server = next(s for s in self.servers.values() if s["name"] == name)
            created = datetime.fromisoformat(server["created"]) - timedelta(seconds=seconds)
            server["created"] = created.isoformat(timespec="seconds")

    def made(self, method: str, path_prefix: str) -> list[Request]:
        return [r for r in self.requests
                if r.method == method and r.path.startswith(path_prefix)]

    # --- the API ------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.removeprefix("/v1")
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append(Request(method, path, body))
        if handler.headers.get("Authorization") != "Bearer test-token":
            return self._error(handler, 401, "unauthorized", "unable to authenticate")
        failure = self._failure_for(method, path)
        if failure:
            time.sleep(failure.delay_seconds)
            return self._error(handler, failure.status, failure.code, "injected failure")
        status, payload = self._route(method, path, parse_qs(parts.query), body)
        self._send(handler, status, payload)

    def _failure_for(self, method: str, path: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.method == method and path.startswith(failure.path_prefix):
                    self.failures.remove(failure)
                    return failure
        return None

    def _route(self, method: str, path: str, query: dict, body: dict | None):
        segments = path.strip("/").split("/")
        with self._lock:
            if segments == ["servers"] and method == "GET":
                return 200, self._list(query)
            if segments == ["servers"] and method == "POST":
                return self._create(body)
            if segments[0] == "servers" and len(segments) == 2:
                server = self.servers.get(int(segments[1]))
                if server is None:
                    return 404, _error_body("not_found", "server not found")
                if method == "GET":
                    return 200, {"server": server}
                if method == "DELETE":
                    del self.servers[server["id"]]
                    return 200, {"action": _action(self._new_id(), "delete_server")}
            if segments == ["server_types"] and method == "GET":
                return 200, self._server_types(query)
            if segments[0] == "actions" and len(segments) == 2:
                return 200, {"action": _action(int(segments[1]), "create_server")}
        return 404, _error_body("not_found", f"{method} {path} is not faked")

    def _list(self, query: dict) -> dict:
        selector = query.get("label_selector", [""])[0]
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        servers = [s for s in self.servers.values()
                   if all(s["labels"].get(k) == v for k, v in wanted.items())]
        return {"servers": servers, "meta": {"pagination": {
            "page": 1, "per_page": 50, "previous_page": None, "next_page": None,
            "last_page": 1, "total_entries": len(servers)}}}

    def _server_types(self, query: dict) -> dict:
        name = query.get("name", [""])[0]
        prices = [{"location": location, "price_hourly": {"net": net, "gross": net},
                   "price_monthly": {"net": net, "gross": net}}
                  for (server_type, location), net in self.hourly_prices.items()
                  if server_type == name]
        found = [{"id": 22, "name": name, "description": name.upper(), "cores": 2,
                  "memory": 4.0, "disk": 40, "prices": prices, "storage_type": "local",
                  "cpu_type": "shared", "architecture": "x86", "deprecated": None,
                  "deprecation": None, "included_traffic": 0}] if prices else []
        return {"server_types": found, "meta": {"pagination": {
            "page": 1, "per_page": 50, "previous_page": None, "next_page": None,
            "last_page": 1, "total_entries": len(found)}}}

    def _create(self, body: dict):
        if len(self.servers) >= self.max_servers:
            return 403, _error_body("resource_limit_exceeded",
                                    "server limit exceeded for this project")
        server_id = self._new_id()
        server = {
            "id": server_id, "name": body["name"], "status": "initializing",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "labels": body.get("labels") or {},
            "server_type": {"id": 22, "name": body["server_type"], "cores": 2,
                            "memory": 4.0, "disk": 40},
            "image": {"id": 114690387, "name": body["image"], "type": "system"},
            "location": {"id": 1, "name": body.get("location") or "fsn1"},
            "public_net": {"ipv4": {"id": server_id, "ip": f"10.0.0.{server_id % 250}",
                                    "blocked": False,
                                    "dns_ptr": f"static.{server_id}.example.com"},
                           "ipv6": None, "floating_ips": [], "firewalls": []},
            "user_data": body.get("user_data"),
        }
        self.servers[server_id] = server
        public = {k: v for k, v in server.items() if k != "user_data"}
        return 201, {"server": public, "action": _action(self._new_id(), "create_server"),
                     "next_actions": [], "root_password": None}

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _error(handler, status: int, code: str, message: str) -> None:
        FakeHetzner._send(handler, status, _error_body(code, message))

    @staticmethod
    def _send(handler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "details": {}}}


def _action(action_id: int, command: str) -> dict:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"id": action_id, "command": command, "status": "success", "progress": 100,
            "started": now, "finished": now, "resources": [], "error": None}
