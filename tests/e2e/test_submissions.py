"""Submissions hold: a client that did not hear the answer sends the same submission again
under its idempotency key and gets the first one's id, never a second execution; an API
that answers too slowly is reported as slow, not as unreachable; fifty clients at once all
get their ids; an execution whose flow run died before claiming it, or was taken by a
worker that died before starting it, still runs, once."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.states import Crashed, Pending

from tests.conftest import write_script
from tests.helpers import wait_for, with_flow_run, worker_stopped

SUBMIT_PATH = "/api/v1/executions"
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "content-encoding"}


class AnswerLosingProxy(ThreadingHTTPServer):
    """Forwards every request to the API, but the answer to the first submission never
    comes back (the connection closes): the API made the execution, the client did not
    hear of it — as after a timeout or a dropped connection."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.submission_keys: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: AnswerLosingProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = httpx.request(self.command, self.server.target + self.path, content=body,
                               headers=headers, timeout=120)
        if self.command == "POST" and self.path == SUBMIT_PATH:
            self.server.submission_keys.append(self.headers.get("Idempotency-Key"))
            if len(self.server.submission_keys) == 1:
                self.close_connection = True
                return
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def answer_losing_proxy(stack) -> Iterator[AnswerLosingProxy]:
    proxy = AnswerLosingProxy(stack.settings.api_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture
def silent_api() -> Iterator[str]:
    """Takes connections and requests, and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in held:
        connection.close()


def _executions_of(rgrid, script_name: str) -> list[dict]:
    return [e for e in rgrid("list", "--json", "--limit", "1000").json()
            if e["script_name"] == script_name]


def test_a_submission_whose_answer_was_lost_is_sent_again_and_runs_once(
        rgrid, tmp_path, answer_losing_proxy):
    name = f"once_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, "print('once')\n")

    result = rgrid("run", name, "--detach", "--json", RGRID_API_URL=answer_losing_proxy.url)

    assert result.exit_code == 0, result.stderr
    assert "Connection lost. Retrying... (attempt 2/5)" in result.stderr
    keys = answer_losing_proxy.submission_keys
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    made = _executions_of(rgrid, name)
    assert [e["id"] for e in made] == [result.json()["id"]]


def test_an_api_that_answers_too_slowly_is_reported_as_slow_not_unreachable(
        rgrid, tmp_path, silent_api):
    write_script(tmp_path, "slow.py", "print('slow')\n")

    result = rgrid("run", "slow.py", RGRID_API_URL=silent_api,
                   RGRID_REQUEST_TIMEOUT_SECONDS="1")

    assert result.exit_code == 1
    assert "The API took longer than 1 s to answer." in result.stderr
    assert "The API took longer than 1 s to answer. Retrying... (attempt 5/5)" in result.stderr
    assert "not reachable" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_fifty_concurrent_submissions_all_get_their_ids_and_all_run(rgrid, tmp_path):
    name = f"many_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, "import sys\nprint('item', sys.argv[1])\n")

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(
            lambda index: rgrid("run", name, str(index), "--detach", "--json", timeout=300),
            range(50)))

    problems = [r.stderr for r in results if r.exit_code != 0]
    assert problems == [], problems[:3]
    assert not [r for r in results if "Retrying..." in r.stderr]
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 50
    finished = wait_for(lambda: (lambda made: made if len(made) == 50 and all(
        e["finished_at"] for e in made) else None)(_executions_of(rgrid, name)),
        600, "the fifty to finish", every=2)
    assert {e["id"] for e in finished} == ids, "no execution the clients were not told of"
    assert all(e["status"] == "succeeded" for e in finished)


LOST_BEFORE_CLAIMING = {
    # the flow run crashed (its worker vanished) before claiming the execution
    "ended": (lambda: Crashed(message="its worker vanished"),
              "its flow run ended before it started (Crashed: its worker vanished)"),
    # a worker took the flow run (Pending) and died before starting it: Prefect never
    # ends such a run, so the sweep does, lost_after_seconds later
    "taken": (Pending, "its flow run was taken by a worker that never started it (Pending)"),
}


@pytest.mark.parametrize("lost", list(LOST_BEFORE_CLAIMING))
def test_an_execution_whose_flow_run_died_before_claiming_it_runs_once(
        rgrid, tmp_path, stack, lost):
    """The pool's only worker is stopped, so the flow run waits; it is crashed (or moved to
    Pending) through Prefect's API; the sweep gives the execution a new flow run, which
    the worker, back, runs."""
    dead_state, reason = LOST_BEFORE_CLAIMING[lost]
    name = f"orphan_{secrets.token_hex(4)}.py"
    write_script(tmp_path, name, "open('out.txt', 'w').write('ran')\nprint('ran')\n")
    with worker_stopped(stack):
        execution = with_flow_run(rgrid, rgrid("run", name, "--detach", "--json").json()["id"])
        with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
            client.set_flow_run_state(UUID(execution["flow_run_id"]), dead_state(),
                                      force=True)
        replaced = wait_for(lambda: (lambda e: e if e["attempt"] == 2 and e["flow_run_id"]
                                     else None)(
            rgrid("status", execution["id"], "--json").json()), 120,
            "the sweep to give it a new flow run", every=1)
        with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
            # the dead flow run is ended in Prefect's UI too
            wait_for(lambda: client.read_flow_run(
                UUID(execution["flow_run_id"])).state.is_final(), 30, "the first run ended")

    assert replaced["status"] == "queued" and replaced["flow_run_id"] != execution["flow_run_id"]
    done = wait_for(lambda: (lambda e: e if e["finished_at"] else None)(
        rgrid("status", execution["id"], "--json").json()), 180, "it to finish", every=1)
    assert (done["status"], done["attempt"]) == ("succeeded", 2)
    assert done["retried_errors"] == [f"attempt 1: {reason}"]
    outputs = [a for a in rgrid("artifacts", execution["id"], "--json").json()
               if a["kind"] == "output"]
    assert [a["path"] for a in outputs] == ["out.txt"]
    logs = rgrid("logs", execution["id"])
    assert logs.stdout.count("ran") == 1
    assert "starting a new one (attempt 2 of 3)" in logs.stderr
