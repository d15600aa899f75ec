"""What a follower says while its execution is queued: the nodes being provisioned for
it ("Provisioning worker... (30s elapsed)"), or why none can be (quota, provider error,
provider unreachable), or, with no autoscaler at all, where to look on a single machine."""

from __future__ import annotations

import time
from typing import TextIO

from cli.client import ApiClient

ASK_AFTER_SECONDS = 1.0
ASK_EVERY_SECONDS = 2.0
REPEAT_ON_A_LOG_SECONDS = 30.0  # not a terminal: a line now and then, not one per check
SINGLE_MACHINE_HINT_AFTER_SECONDS = 10.0
PROBLEM_TITLES = {"provider_quota_exceeded": "Hetzner quota exceeded",
                  "provider_unreachable": "Hetzner API unreachable",
                  "provider_error": "Hetzner API error"}


class QueuedNotes:
    def __init__(self, client: ApiClient, execution_id: str, out: TextIO) -> None:
        self._client, self._execution_id, self._out = client, execution_id, out
        self._started = time.monotonic()
        self._asked_at = 0.0
        self._said: dict[str, float] = {}
        self._live_line = False

    def update(self) -> None:
        """Called on each poll while the execution is queued."""
        waited = time.monotonic() - self._started
        if waited < ASK_AFTER_SECONDS or time.monotonic() - self._asked_at < ASK_EVERY_SECONDS:
            return
        self._asked_at = time.monotonic()
        capacity = self._client.get("/api/v1/nodes/capacity")
        if capacity["problem"]:
            problem = capacity["problem"]
            title = PROBLEM_TITLES.get(problem["code"], "Cannot add a worker")
            self._say_once(f"✗ {title}: {problem['message']} (still queued; Ctrl+C leaves "
                           "it queued)")
        elif capacity["provisioning"]:
            elapsed = max(node["elapsed_seconds"] for node in capacity["provisioning"])
            self._say_live(f"Provisioning worker... ({elapsed}s elapsed)")
        elif not capacity["ready_nodes"] and waited > SINGLE_MACHINE_HINT_AFTER_SECONDS:
            self._say_once(f"… {self._execution_id} is still queued: waiting for a free "
                           "worker. On a single machine, check `./scripts/dev status`.")

    def done(self) -> None:
        if self._live_line:
            self._out.write("\n")
            self._out.flush()
            self._live_line = False

    def _say_once(self, line: str) -> None:
        if line in self._said:
            return
        self.done()
        self._said[line] = time.monotonic()
        self._out.write(line + "\n")
        self._out.flush()

    def _say_live(self, line: str) -> None:
        """On a terminal, one line updated in place; otherwise every half minute."""
        if self._out.isatty():
            self._out.write("\r" + line)
            self._live_line = True
        else:
            key = line.split("(")[0]
            if time.monotonic() - self._said.get(key, -REPEAT_ON_A_LOG_SECONDS) \
                    < REPEAT_ON_A_LOG_SECONDS:
                return
            self._said[key] = time.monotonic()
            self._out.write(line + "\n")
        self._out.flush()
