"""The flow's HTTP client for the RGrid API's worker endpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from flows.settings import WorkerSettings
from rgrid_common.errors import Conflict, checked_answer, problem_of, retry_after_seconds
from rgrid_common.protocol import (BatchPlan, FinishRequest, JobSpec, LogChunkIn,
                                   OutputCompletion, OutputFile, OutputUpload, OutputUploads,
                                   ShardsMade)
from rgrid_common.status import ExecutionStatus
from rgrid_common.tls import tls_context


PREFIX = "/api/v1/worker/executions"
BATCHES = "/api/v1/worker/batches"
SCHEDULES = "/api/v1/worker/schedules"
# The API away (restarting, its database restarting) is waited out this long, about a
# minute, on top of the transport's own quick retries of a refused connection: giving an
# attempt back over a blip would run it again (README, Chaos).
RESEND_DELAYS = (1, 2, 4, 8, 15, 15, 15)
MAX_RETRY_AFTER_SECONDS = 60
BLIPS = {502, 503, 504}
log = logging.getLogger(__name__)


class ControlPlane:
    """``http`` must carry the API's base URL and the worker token."""

    def __init__(self, http: httpx.Client,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``sleep`` replaces the real one (a test's clock)."""
        self._http = http
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> ControlPlane:
        return cls(httpx.Client(
            base_url=settings.api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.worker_token.get_secret_value()}"},
            transport=httpx.HTTPTransport(retries=5, verify=tls_context()),
            timeout=30,
        ))

    def claim(self, execution_id: str, *, flow_run_id: str, worker: str) -> JobSpec | None:
        """The job to run, or None when another flow run owns the execution."""
        response = self._resent(f"{PREFIX}/{execution_id}/claim", safe_twice=False,
                                json={"flow_run_id": flow_run_id, "worker": worker})
        try:
            return JobSpec.model_validate(self._checked(response))
        except Conflict:
            return None

    def claim_next(self, batch_id: str, *, flow_run_id: str, worker: str) -> JobSpec | None:
        """The batch's next queued item, now claimed by this flow run; None when none may
        start (none left, or ``parallel`` already running)."""
        response = self._resent(f"{BATCHES}/{batch_id}/claim-next", safe_twice=False,
                                json={"flow_run_id": flow_run_id, "worker": worker})
        answer = self._checked(response)
        return JobSpec.model_validate(answer) if answer else None

    def heartbeat(self, execution_id: str, attempt: int) -> bool:
        """False when the attempt is no longer current (the API gave it to another)."""
        try:
            self._checked(self._resent(f"{PREFIX}/{execution_id}/heartbeat",
                                          json={"attempt": attempt}))
        except Conflict:
            return False
        return True

    def give_back(self, execution_id: str, attempt: int, reason: str) -> None:
        self._checked(self._resent(f"{PREFIX}/{execution_id}/give-back",
                                      json={"attempt": attempt, "reason": reason[:2000]}))

    def execution_status(self, execution_id: str) -> ExecutionStatus:
        answer = self._checked(self._http.get(f"{PREFIX}/{execution_id}/status"))
        return ExecutionStatus(answer["status"])

    def batch_plan(self, batch_id: str) -> BatchPlan:
        return BatchPlan.model_validate(
            self._checked(self._http.post(f"{BATCHES}/{batch_id}/plan")))

    def cancel_queued(self, batch_id: str, reason: str) -> int:
        answer = self._checked(self._http.post(f"{BATCHES}/{batch_id}/cancel-queued",
                                               json={"reason": reason}))
        return answer["cancelled"]

    def fire_schedule(self, schedule_id: str) -> str:
        """Starts the schedule's batch; its id."""
        return self._checked(self._http.post(f"{SCHEDULES}/{schedule_id}/fire"))["batch_id"]

    def shards_made(self, batch_id: str, pool: str) -> None:
        """Never raises: the shards exist whether or not their workers are told now (they
        find them at their next poll)."""
        try:
            self._checked(self._http.post(f"{BATCHES}/{batch_id}/shards-made",
                                          json=ShardsMade(pool=pool).model_dump()))
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("could not announce the shards of %s on %r", batch_id, pool,
                        exc_info=True)

    def finish_batch(self, batch_id: str) -> None:
        self._checked(self._http.post(f"{BATCHES}/{batch_id}/finish"))

    def send_logs(self, execution_id: str, chunks: list[LogChunkIn]) -> None:
        body = {"chunks": [chunk.model_dump() for chunk in chunks]}
        self._checked(self._resent(f"{PREFIX}/{execution_id}/logs", json=body))

    def output_uploads(self, execution_id: str, files: list[OutputFile], *,
                       attempt: int | None = None) -> list[OutputUpload]:
        body = {"files": [item.model_dump() for item in files], "attempt": attempt}
        answer = self._checked(self._resent(f"{PREFIX}/{execution_id}/output-uploads",
                                               json=body))
        return OutputUploads.model_validate(answer).uploads

    def complete_output_upload(self, execution_id: str, completion: OutputCompletion) -> None:
        self._checked(self._resent(f"{PREFIX}/{execution_id}/output-uploads/complete",
                                      json=completion.model_dump()))

    def finish(self, execution_id: str, report: FinishRequest) -> JobSpec | None:
        """The report taken; with ``then_claim``, the batch's next item, now claimed (None:
        none may start). Safe to send twice: the report is then a no-op, and the claim
        gets the item the shard already holds."""
        answer = self._checked(self._resent(f"{PREFIX}/{execution_id}/finish",
                                            json=report.model_dump(mode="json")))
        return JobSpec.model_validate(answer) if answer else None

    def _resent(self, path: str, *, safe_twice: bool = True, **kwargs) -> httpx.Response:
        """POSTs ``path``, sent again while the API is away: not listening (restarting),
        or answering 503 (its database away) — also 502/504 and any broken exchange for
        a report that is safe twice (conditional on the attempt, or keyed by its sequence
        number). A claim is sent again only when it cannot have been taken."""
        for delay in RESEND_DELAYS:
            try:
                response = self._http.post(path, **kwargs)
            except (httpx.TransportError if safe_twice else httpx.ConnectError) as exc:
                self._wait(delay, path, f"{type(exc).__name__} ({exc})")
                continue
            if response.status_code not in (BLIPS if safe_twice else {503}):
                return response
            self._wait(max(delay, min(retry_after_seconds(response),
                                      MAX_RETRY_AFTER_SECONDS)), path,
                       f"it answered {response.status_code}: "
                       f"{problem_of(response)['message']}")
        return self._http.post(path, **kwargs)

    def _wait(self, seconds: float, path: str, why: str) -> None:
        """Logs why ``path`` did not land (the API down, or its database or storage
        away: the API's answer says which), and waits."""
        log.warning("the API could not take %s (%s); sending it again in %s s", path, why,
                    seconds)
        self._sleep(seconds)

    @staticmethod
    def _checked(response: httpx.Response):
        return checked_answer(response)

    def close(self) -> None:
        self._http.close()

