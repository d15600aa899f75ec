"""Small helpers shared by the tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Rgrid:
    """Runs the real ``rgrid`` command in a subprocess, as a user would."""

    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.cwd = cwd
        self.env = env or {}

    def __call__(self, *args: str, timeout: float = 120, **env: str) -> CliResult:
        done = subprocess.run(self._argv(args), cwd=self.cwd, env=self._env(env),
                              capture_output=True, text=True, timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        """The command in the background (its stderr to read while it runs), taking
        SIGINT as from a terminal's Ctrl+C even where the test runner itself ignores it
        (a shell's background jobs do, and a child inherits what is ignored)."""
        return subprocess.Popen(self._argv(args), cwd=self.cwd, env=self._env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_sigint_as_from_a_terminal)

    @staticmethod
    def _argv(args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-P", "-m", "cli.main", *args]

    def _env(self, env: dict[str, str]) -> dict[str, str]:
        outer = {k: v for k, v in os.environ.items() if not k.startswith("RGRID_")}
        return {**outer, "RGRID_CONFIG": str(self.config), "COLUMNS": "200", **self.env, **env}

    def with_env(self, **env: str) -> Rgrid:
        return Rgrid(self.config, self.cwd, {**self.env, **env})


def _sigint_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, timeout: float, what: str = "the condition", every: float = 0.3,
             explain: Callable[[], str] | None = None):
    """``condition()``'s first truthy value, polled; a failure naming ``what`` after
    ``timeout`` seconds (a bound on a hang, never a measure of speed), and what
    ``explain()`` says of the state things were left in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    left = f"\n{explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{left}")


def expected_estimate(record: dict, *, per_hour: int, slots: int) -> int:
    """An execution's estimate worked out apart from the API: its recorded time × the
    price per slot-second (micro-euros an hour), rounded half up once."""
    ran = (datetime.fromisoformat(record["finished_at"])
           - datetime.fromisoformat(record["started_at"]))
    exact = Decimal(ran // timedelta(microseconds=1)) * per_hour / (3600 * 10**6 * slots)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def with_flow_run(rgrid: Rgrid, execution_id: str) -> dict:
    """The execution's record once the API's starter has made its flow run (a submission
    answers before)."""
    return wait_for(lambda: (lambda record: record if record["flow_run_id"] else None)(
        rgrid("status", execution_id, "--json").json()), 60,
        f"the flow run of {execution_id}", every=0.2)


def worker_polling(prefect_api_url: str, pool: str, worker: str) -> bool:
    """Whether the Prefect server has heard from ``worker`` on ``pool``."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api=prefect_api_url) as client:
        return any(w.name == worker for w in client.read_workers_for_work_pool(pool))


# Workers some tests add to the stack's process pool (ManagedProcess name: worker name).
EXTRA_WORKERS = {"worker-2": "rgrid-test-worker-2", "worker-3": "rgrid-test-worker-3"}


@contextmanager
def worker_stopped(stack) -> Iterator[None]:
    """Every worker of the process pool is stopped for the block (flow runs wait), and
    started again after, whatever happened: the stack's other tests need them."""
    from devstack.processes import ManagedProcess

    stopped = {stack.settings.worker_name: stack.processes["worker"]}
    stopped |= {name: process for process_name, name in EXTRA_WORKERS.items()
                if (process := ManagedProcess(process_name, stack.home)).pid is not None}
    for process in stopped.values():
        process.stop()
    try:
        yield
    finally:
        for name, process in stopped.items():
            stack.start_worker(process, name)


class Followed:
    """A running CLI command whose stdout and stderr are read as they come."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(pipe, sink), daemon=True)
                         for pipe, sink in ((process.stdout, self.stdout),
                                            (process.stderr, self.stderr))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe, sink: list[str]) -> None:
        for line in pipe:
            sink.append(line)

    def wait_for_output(self, text: str, *, stream: str = "stdout", timeout: float = 120):
        lines = self.stdout if stream == "stdout" else self.stderr
        wait_for(lambda: any(text in line for line in lines), timeout, f"{text!r} on {stream}",
                 explain=lambda: "".join(self.stderr)[-2000:])

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code, "".join(self.stdout), "".join(self.stderr)
