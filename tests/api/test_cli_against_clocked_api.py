"""The real CLI over real HTTP against an API whose clock the test moves: the expiry
warning, and limits that refuse a file before anything is submitted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from rgrid_api.main import create_app
from tests.conftest import write_script
from tests.helpers import Rgrid, free_port

MAX_FILE_BYTES = 1_000_000


@pytest.fixture
def served_api(api_settings, clock) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = api_settings.model_copy(update={"public_url": url,
                                               "max_file_bytes": MAX_FILE_BYTES})
    server = uvicorn.Server(uvicorn.Config(create_app(settings, clock=clock), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def alice_cli(served_api, alice, tmp_path) -> Rgrid:
    return Rgrid(tmp_path / "no-config.json", tmp_path,
                 env={"RGRID_API_URL": served_api, "RGRID_API_KEY": alice.key})


def test_the_cli_warns_before_an_artifact_expires_and_says_when_it_has(alice_cli, clock,
                                                                       tmp_path):
    write_script(tmp_path, "read.py", "import sys\nprint(open(sys.argv[1]).read())\n")
    (tmp_path / "in.csv").write_text("x\n1\n")
    submitted = alice_cli("run", "read.py", "in.csv", "--detach", "--json")
    assert submitted.exit_code == 0, submitted.stderr
    execution_id = submitted.json()["id"]

    fresh = alice_cli("artifacts", execution_id)
    clock.advance(days=28)
    soon = alice_cli("artifacts", execution_id)
    clock.advance(days=3)
    gone = alice_cli("artifacts", execution_id)

    assert fresh.exit_code == soon.exit_code == gone.exit_code == 0
    assert "in.csv" in fresh.stdout and "expire" not in fresh.stderr
    assert "in.csv expires on" in soon.stderr and "download it before then" in soon.stderr
    assert "in.csv expired on" in gone.stderr and "expired" in gone.stdout


def test_a_file_over_the_maximum_is_refused_before_anything_is_submitted(alice_cli, tmp_path):
    write_script(tmp_path, "read.py", "print(1)\n")
    (tmp_path / "huge.bin").write_bytes(b"\0" * (MAX_FILE_BYTES + 1))

    result = alice_cli("run", "read.py", "huge.bin")

    assert result.exit_code == 2
    assert "exceeds the maximum" in result.stderr and "RGRID_MAX_FILE_BYTES" in result.stderr
    assert alice_cli("list", "--json").json() == []
