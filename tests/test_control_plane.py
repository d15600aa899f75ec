"""The worker's reports to the API ride out a control plane that answers 502/503/504 for a
while (the API restarting, its database away): sent again, honouring Retry-After, rather
than failing the report, which gives the attempt back and runs the item again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from flows import control_plane as control_plane_module
from flows.control_plane import ControlPlane
from rgrid_common.errors import RGridError
from rgrid_common.protocol import FinishRequest
from rgrid_common.status import ExecutionStatus
from tests.helpers import free_port


class Recovering(BaseHTTPRequestHandler):
    """Answers ``answers`` in turn (then 204), keeping each body it was sent."""
    answers: list[int] = []
    bodies: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        code = self.answers.pop(0) if self.answers else 204
        body = b"" if code == 204 else json.dumps(
            {"code": "service_unavailable", "message": "down", "hint": ""}).encode()
        self.send_response(code)
        if code == 503:
            self.send_header("Retry-After", "2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Recovering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def control_plane() -> Iterator[tuple[ControlPlane, list[float]]]:
    Recovering.answers, Recovering.bodies = [], []
    server = _serve()
    waited: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}") as http:
        yield ControlPlane(http, sleep=waited.append), waited
    server.shutdown()


REPORT = FinishRequest(attempt=1, status=ExecutionStatus.SUCCEEDED, exit_code=0)


def test_a_finish_answered_503_and_502_is_sent_again_until_it_lands(control_plane):
    plane, waited = control_plane
    Recovering.answers = [503, 502, 503]

    plane.finish("ex_1", REPORT)

    assert len(Recovering.bodies) == 4 and all(
        body == REPORT.model_dump(mode="json") for body in Recovering.bodies)
    assert waited == [2, 2, 4], "backing off, never sooner than Retry-After"


def test_a_control_plane_that_stays_away_fails_the_report_after_about_a_minute(control_plane):
    plane, waited = control_plane
    Recovering.answers = [503] * 20

    with pytest.raises(RGridError, match="down"):
        plane.finish("ex_1", REPORT)

    assert len(Recovering.bodies) == len(control_plane_module.RESEND_DELAYS) + 1
    assert 55 <= sum(waited) <= 90


def test_an_error_that_is_not_the_control_plane_being_away_is_not_sent_again(control_plane):
    plane, waited = control_plane
    Recovering.answers = [500]

    with pytest.raises(RGridError):
        plane.finish("ex_1", REPORT)

    assert len(Recovering.bodies) == 1 and waited == []


def test_a_finish_sent_while_the_api_restarts_lands_once_it_listens():
    """Nothing listens on the API's port until the third wait (the API process restarting,
    longer than the transport's own retries of a refused connection)."""
    Recovering.answers, Recovering.bodies = [], []
    port, servers, waited = free_port(), [], []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 3:
            servers.append(_serve(port))

    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            ControlPlane(http, sleep=sleep).finish("ex_1", REPORT)
    finally:
        for server in servers:
            server.shutdown()

    assert waited == [1, 2, 4]
    assert Recovering.bodies == [REPORT.model_dump(mode="json")]


def test_a_claim_is_sent_again_only_when_it_cannot_have_been_taken(control_plane):
    """A 503 (the database away) rolled the claim back; a 502 or 504 from something in
    between may have let it through, and a claim taken twice would run an item twice."""
    plane, waited = control_plane
    Recovering.answers = [503, 504]

    with pytest.raises(RGridError):
        plane.claim_next("bat_1", flow_run_id="fr-1", worker="w")

    assert len(Recovering.bodies) == 2 and waited == [2]


def test_a_report_sent_again_says_why_the_api_could_not_take_it(control_plane, caplog):
    """The API answers 503 for its database or its storage away; the worker's log says
    which, from the API's answer, not only that the API is away."""
    plane, _ = control_plane
    Recovering.answers = [503]

    with caplog.at_level("WARNING", logger=control_plane_module.__name__):
        plane.finish("ex_1", REPORT)

    [line] = [record.getMessage() for record in caplog.records]
    assert "it answered 503: down" in line and "ex_1/finish" in line
