"""How fast RGrid recovers and reacts, on the single-machine default (`./scripts/dev up`
first; its settings, so RGRID_LOST_AFTER_SECONDS is the default 60 s unless set there).

    python benchmarks/recovery.py [--trials 3]

kill    = a second worker joins the pool; an execution sleeping 20 s starts; its worker is
          SIGKILLed: seconds from the kill until the execution succeeded on the other
          worker (attempt 2), and until it was running again. The killed worker restarts.
burst   = the autoscaler loop (every 10 s, as deployed) watches an empty pool against the
          fake Hetzner API of tests/; 20 flow runs are queued at once: seconds until its
          first create-server call.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prefect.client.orchestration import SyncPrefectClient  # noqa: E402
from prefect.client.schemas.actions import WorkPoolCreate  # noqa: E402

from devstack.processes import ManagedProcess  # noqa: E402
from devstack.settings import DevSettings  # noqa: E402
from devstack.stack import DevStack  # noqa: E402
from hetzner_autoscaler.__main__ import connected, run_rounds  # noqa: E402
from hetzner_autoscaler.settings import AutoscalerSettings  # noqa: E402
from tests.fake_hetzner import FakeHetzner  # noqa: E402
from rgrid_common.names import EXECUTE_FLOW  # noqa: E402
from tests.helpers import wait_for, worker_polling  # noqa: E402
from work_pools import PROCESS_POOL  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "recovery.json"
RGRID = [sys.executable, "-P", "-m", "cli.main"]
SLEEPER = "import time\ntime.sleep(20)\nprint('done')\n"


def rgrid(*args: str, cwd: Path) -> dict | list:
    done = subprocess.run([*RGRID, *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"rgrid {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def one_kill(stack: DevStack, work: Path) -> dict[str, float]:
    extra = ManagedProcess("bench-worker-2", stack.home)
    stack.start_worker(extra, "rgrid-bench-worker-2")
    workers = {stack.settings.worker_name: stack.processes["worker"],
               "rgrid-bench-worker-2": extra}
    try:
        wait_for(lambda: worker_polling(stack.settings.prefect_api_url, PROCESS_POOL.name,
                                        "rgrid-bench-worker-2"), 60, "the second worker")
        (work / "sleeper.py").write_text(f"# {secrets.token_hex(4)}\n{SLEEPER}")
        execution_id = rgrid("run", "sleeper.py", "--detach", "--json", cwd=work)["id"]
        victim = wait_for(lambda: _status_if(work, execution_id, "running"), 120,
                          "the execution to run")
        os.killpg(workers[victim["worker"]].pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: _status_if(work, execution_id, "running", attempt=2), 600,
                 "the second attempt")
        running_again = time.monotonic() - killed
        final = wait_for(lambda: _status_if(work, execution_id, "succeeded"), 600,
                         "the success")
        succeeded = time.monotonic() - killed
        if final["worker"] == victim["worker"]:
            sys.exit("the execution finished on the killed worker")
    finally:
        if "victim" in locals():
            workers[victim["worker"]].stop()
            if victim["worker"] == stack.settings.worker_name:
                stack.start_worker(stack.processes["worker"], stack.settings.worker_name)
        extra.stop()
    return {"kill_to_running_again": round(running_again, 1),
            "kill_to_succeeded": round(succeeded, 1)}


def _status_if(work: Path, execution_id: str, status: str, attempt: int = 1) -> dict | None:
    execution = rgrid("status", execution_id, "--json", cwd=work)
    return execution if execution["status"] == status and execution["attempt"] >= attempt \
        else None


def one_burst(stack: DevStack) -> float:
    pool = f"bench-burst-{secrets.token_hex(3)}"
    fake = FakeHetzner(max_servers=50).start()
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
        prefect.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        deployment = prefect.create_deployment(
            flow_id=prefect.create_flow_from_name(EXECUTE_FLOW), name=pool,
            entrypoint="flows.execute:execute", work_pool_name=pool)
    settings = AutoscalerSettings(
        api_url=stack.settings.api_url, control_token=stack.secret("control_token"),
        prefect_api_url=stack.settings.prefect_api_url, work_pool=pool,
        hcloud_endpoint=fake.url, hcloud_token="test-token", tick_seconds=10)
    stop = threading.Event()

    def loop() -> None:  # as `python -m hetzner_autoscaler` runs it
        with connected(settings) as autoscaler:
            run_rounds(autoscaler, settings.tick_seconds, stop)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        time.sleep(random.uniform(1, settings.tick_seconds))  # any phase of the loop
        with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
            queued = time.monotonic()
            for _ in range(20):
                prefect.create_flow_run_from_deployment(
                    deployment, parameters={"execution_id": "benchmark"})
        wait_for(lambda: fake.made("POST", "/servers"), 60, "a create call", every=0.05)
        return round(time.monotonic() - queued, 2)
    finally:
        stop.set()
        thread.join(timeout=30)
        with SyncPrefectClient(api=stack.settings.prefect_api_url) as prefect:
            prefect.delete_work_pool(pool)
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    trials = parser.parse_args().trials
    stack = DevStack(DevSettings(), say=lambda _line: None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        work.chmod(0o777)
        kills = [one_kill(stack, work) for _ in range(trials)]
    bursts = [one_burst(stack) for _ in range(trials)]
    report = {
        "lost_after_seconds": stack.settings.lost_after_seconds,
        "kill_to_running_again_median": statistics.median(k["kill_to_running_again"]
                                                          for k in kills),
        "kill_to_succeeded_median": statistics.median(k["kill_to_succeeded"] for k in kills),
        "burst_to_first_create_median": statistics.median(bursts),
        "burst_to_first_create_max": max(bursts),
        "kills": kills, "bursts": bursts, "trials": trials,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"kill -> running again    {report['kill_to_running_again_median']:.1f} s (median; "
          f"RGRID_LOST_AFTER_SECONDS={stack.settings.lost_after_seconds:.0f})")
    print(f"kill -> succeeded        {report['kill_to_succeeded_median']:.1f} s (median; "
          "target: re-queued within 120 s)")
    print(f"burst -> first create    {report['burst_to_first_create_median']:.2f} s median, "
          f"{report['burst_to_first_create_max']:.2f} s max (10 s rounds)")


if __name__ == "__main__":
    main()
