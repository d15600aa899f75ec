"""Following on the live streams, on the real stack: `rgrid run` and `rgrid logs -f` take
the stream (not polling), ride out a cut connection and a restarted API with every line
exactly once, and fall back to polling where no stream can be opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.stack import DevStack
from tests.conftest import write_script
from tests.cuttable_socket import CuttableTcp
from tests.helpers import Followed, Rgrid

LINES = 30
# Prints a numbered line every 0.4 s (12 s in all): long enough to break something under
# it, and every line is counted at the end.
TICKER = (f"import time\nfor i in range({LINES}):\n"
          "    print(f'tick {i}', flush=True)\n    time.sleep(0.4)\n")
EXPECTED = "".join(f"tick {i}\n" for i in range(LINES))


def _api_requests(stack: DevStack, execution_path: str) -> list[str]:
    log = (stack.home / "logs" / "api.log").read_text(errors="replace")
    return [line for line in log.splitlines() if execution_path in line]


def test_run_follows_on_the_stream_not_by_polling(rgrid: Rgrid, stack: DevStack,
                                                  tmp_path: Path):
    write_script(tmp_path, "streamed_hello.py", "print('streamed hello')\n")
    result = rgrid("run", "streamed_hello.py", "--no-cache")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "streamed hello\n"
    [execution] = [e for e in rgrid("list", "--json", "--limit", "50").json()
                   if e["script_name"] == "streamed_hello.py"]
    requests = _api_requests(stack, f"/api/v1/executions/{execution['id']}/")
    assert any("/stream" in line and "WebSocket" in line for line in requests), requests
    assert not any("GET" in line and "/logs" in line for line in requests), requests


def test_a_cut_connection_is_reopened_from_the_cursor(rgrid: Rgrid, stack: DevStack,
                                                      tmp_path: Path):
    write_script(tmp_path, "ticker.py", TICKER)
    with CuttableTcp(stack.settings.api_port) as relay:
        followed = Followed(rgrid.with_env(RGRID_API_URL=relay.url).start(
            "run", "ticker.py", "--no-cache"))
        followed.wait_for_output("tick 3")
        assert relay.cut() >= 1
        followed.wait_for_output("Retrying... (attempt 2/9)", stream="stderr")
        code, stdout, stderr = followed.finish()
    assert code == 0, stderr
    assert stdout == EXPECTED, "every line exactly once, in order"
    assert "Connection lost (" in stderr, "the retry line says how the stream went"


@pytest.mark.slow
def test_a_followed_run_survives_an_api_restart(rgrid: Rgrid, stack: DevStack,
                                                tmp_path: Path):
    write_script(tmp_path, "ticker.py", TICKER)
    followed = Followed(rgrid.start("run", "ticker.py", "--no-cache"))
    followed.wait_for_output("tick 3")
    try:
        assert stack.processes["api"].stop()
        followed.wait_for_output("Retrying... (attempt 2/", stream="stderr")
    finally:
        stack.start_api()
    code, stdout, stderr = followed.finish()
    assert code == 0, stderr
    assert stdout == EXPECTED, "every line exactly once, in order"
    assert "Traceback" not in stderr


def test_without_a_stream_a_follower_polls_and_says_so_once(rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "ticker.py", TICKER.replace(str(LINES), "5"))
    result = rgrid.with_env(RGRID_LIVE="poll")("run", "ticker.py", "--no-cache")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "".join(f"tick {i}\n" for i in range(5))
    assert result.stderr.count("Live stream unavailable") == 1
    assert "Following by polling" in result.stderr


def test_logs_follow_from_the_stream_prints_a_finished_log_whole(rgrid: Rgrid,
                                                                 tmp_path: Path):
    write_script(tmp_path, "both.py",
                 "import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    submitted = rgrid("run", "both.py", "--no-cache", "--detach", "--json").json()
    followed = rgrid("logs", submitted["id"], "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert (followed.stdout, followed.stderr) == ("out\n", "err\n")
    only_err = rgrid("logs", submitted["id"], "--follow", "--stderr-only")
    assert (only_err.stdout, only_err.stderr) == ("", "err\n")
