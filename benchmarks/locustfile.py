"""The users `benchmarks/locust_load.py` runs with locust (headless): it makes the API, the
account, the worker token and the followed executions, and passes them in
RGRID_LOAD_SETUP. Not meant to be run alone.

- ``Submitter``: one `POST /api/v1/executions` a second each (locust's constant
  throughput), so ``submitters`` of them ask that many a second.
- ``LinePoster``: the followed executions' worker; every 0.5 s it posts one line to each,
  the line being the time it was posted.
- ``Follower``: one live stream (`/api/v1/executions/{id}/stream`, the CLI's WebSocket)
  each; every line it receives is reported to locust as a request named
  "line, posted to streamed", whose response time is how long the line took.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import gevent
import websocket
from locust import FastHttpUser, User, constant, constant_throughput, events, task

SETUP = json.loads(os.environ["RGRID_LOAD_SETUP"])
USER = {"Authorization": f"Bearer {SETUP['user_key']}"}
WORKER = {"Authorization": f"Bearer {SETUP['worker_token']}"}
SCRIPT = {"script_name": "load.py", "script_content": "print('load')\n", "use_cache": False}
LINE = "line, posted to streamed"
_followed = itertools.cycle(SETUP["followed"])


class Submitter(FastHttpUser):
    fixed_count = SETUP["submitters"]
    wait_time = constant_throughput(1)

    @task
    def submit(self) -> None:
        self.client.post("/api/v1/executions", json=SCRIPT, headers=USER, name="submit")


class LinePoster(FastHttpUser):
    fixed_count = 1
    wait_time = constant(0.5)

    def on_start(self) -> None:
        self.seq = 0

    @task
    def post_lines(self) -> None:
        for execution_id in SETUP["followed"]:
            self.client.post(f"/api/v1/worker/executions/{execution_id}/logs",
                             headers=WORKER, name="worker posts a line",
                             json={"chunks": [{"seq": self.seq, "stream": "stdout",
                                               "data": f"{time.time():.6f}"}]})
        self.seq += 1


class Follower(User):
    fixed_count = SETUP["streams"]
    wait_time = constant(1)

    def on_start(self) -> None:
        url = self.host.replace("http", "ws", 1)
        self.execution_id = next(_followed)
        self.connected_at = time.time()
        self.ws = websocket.create_connection(
            f"{url}/api/v1/executions/{self.execution_id}/stream",
            header=[f"{name}: {value}" for name, value in USER.items()])
        self.receiver = gevent.spawn(self._receive)

    def on_stop(self) -> None:
        self.receiver.kill()
        self.ws.close()

    @task
    def follow(self) -> None:
        """Only holds the stream; ``_receive`` reports what comes."""

    def _receive(self) -> None:
        while True:
            try:
                raw = self.ws.recv()
            except Exception as exc:  # noqa: BLE001 - a dropped stream is an error
                _report(0, 0, exc)
                return
            message = json.loads(raw)
            if message["type"] == "log":
                posted = float(message["data"])
                if posted >= self.connected_at:  # not the backlog sent on connecting
                    _report((time.time() - posted) * 1000, len(raw), None)
            elif message["type"] in ("error", "end"):
                _report(0, len(raw), RuntimeError(f"stream ended: {raw[:200]}"))
                return


def _report(milliseconds: float, size: int, exception: Exception | None) -> None:
    events.request.fire(request_type="WS", name=LINE, response_time=milliseconds,
                        response_length=size, exception=exception, context={})
