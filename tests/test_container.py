"""The user container as a worker runs it (``flows.container``), on the real engine."""

from __future__ import annotations

import docker
import pytest

from flows.container import connect_docker, run_container
from rgrid_common.protocol import JobSpec

pytestmark = pytest.mark.usefixtures("stack")  # the engine and the runtime images


def _job(source: str, timeout: int = 60) -> JobSpec:
    return JobSpec(execution_id="exec_container_test", image="rgrid/python:3.11",
                   script_name="s.py", script_content=source,
                   command=["python3", "/work/s.py"], env={}, memory_mb=256, cpus=1,
                   pids_limit=64, timeout_seconds=timeout)


def _run(source: str, tmp_path, *, client_timeout: int | None = None):
    engine = (docker.from_env(timeout=client_timeout) if client_timeout
              else connect_docker("container-test"))
    tmp_path.chmod(0o777)
    (tmp_path / "s.py").write_text(source)
    written: list[tuple[str, str]] = []
    outcome = run_container(engine, _job(source), work_dir=tmp_path, uid=1000,
                            worker="container-test",
                            on_output=lambda stream, text: written.append((stream, text)))
    engine.close()
    return outcome, written


def test_a_script_quiet_for_longer_than_the_engine_clients_timeout_is_still_heard(tmp_path):
    outcome, written = _run("import time\ntime.sleep(3)\nprint('after the pause')\n",
                            tmp_path, client_timeout=1)
    assert outcome.exit_code == 0
    assert "".join(text for stream, text in written if stream == "stdout") == \
        "after the pause\n"


def test_stdout_and_stderr_come_apart_in_the_order_written(tmp_path):
    source = ("import sys, time\n"
              "for n in range(3):\n"
              "    print(f'out {n}', flush=True); time.sleep(0.05)\n"
              "    print(f'err {n}', file=sys.stderr, flush=True); time.sleep(0.05)\n"
              "sys.stdout.write('no newline at the end')\n")
    outcome, written = _run(source, tmp_path)
    assert outcome.exit_code == 0
    runs: list[list[str]] = []  # consecutive writes to one stream, joined
    for stream, text in written:
        if runs and runs[-1][0] == stream:
            runs[-1][1] += text
        else:
            runs.append([stream, text])
    assert runs == [["stdout", "out 0\n"], ["stderr", "err 0\n"], ["stdout", "out 1\n"],
                    ["stderr", "err 1\n"], ["stdout", "out 2\n"], ["stderr", "err 2\n"],
                    ["stdout", "no newline at the end"]]
