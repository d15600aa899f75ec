"""Prefect's own ways of noticing a dead worker, measured for comparison with RGrid's
execution heartbeats (benchmarks/recovery.py: running again 68.5 s after the kill with
its 60 s threshold).

Start the single-machine default with RGrid's sweep out of the way, so only Prefect acts:

    export RGRID_DEV_LOST_AFTER_SECONDS=900
    ./scripts/dev down; ./scripts/dev up
    python benchmarks/zombie.py [--trials 2]
    ./scripts/dev down; ./scripts/dev up          # back to the defaults

worker offline = seconds from SIGKILL of the worker until Prefect marks it OFFLINE (missed
                 heartbeats, PREFECT_WORKER_HEARTBEAT_SECONDS of 30 s by default).
zombie crashed = seconds until the zombie automation of Prefect's docs marks the dead flow
                 run Crashed: flow-run heartbeats every 30 s (Prefect's minimum), the
                 automation firing when none came for WITHIN seconds after the last.
Either only notices; RGrid would still re-queue the execution itself.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prefect.automations import Automation  # noqa: E402
from prefect.client.orchestration import SyncPrefectClient  # noqa: E402
from prefect.client.schemas.objects import StateType  # noqa: E402
from prefect.events.actions import ChangeFlowRunState  # noqa: E402
from prefect.events.schemas.automations import EventTrigger, Posture  # noqa: E402
from prefect.events.schemas.events import ResourceSpecification  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402

from devstack.processes import ManagedProcess  # noqa: E402
from devstack.settings import DevSettings  # noqa: E402
from devstack.stack import DevStack  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from work_pools import PROCESS_POOL  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "zombie.json"
RGRID = [sys.executable, "-P", "-m", "cli.main"]
HEARTBEAT_SECONDS = 30
WITHIN = timedelta(seconds=60)  # two missed flow-run heartbeats
VICTIM = "rgrid-zombie-bench"


def zombie_automation() -> Automation:
    return Automation(
        name=f"rgrid-bench-crash-zombies-{secrets.token_hex(3)}",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=WITHIN),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message="no heartbeat (zombie automation)")])


def one_trial(stack: DevStack, work: Path) -> dict[str, float | None]:
    victim = ManagedProcess("zombie-bench-worker", stack.home)
    os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(HEARTBEAT_SECONDS)
    stack.start_worker(victim, VICTIM)
    try:
        (work / "long.py").write_text(f"# {secrets.token_hex(4)}\nimport time\ntime.sleep(900)\n")
        execution = json.loads(subprocess.run(
            [*RGRID, "run", "long.py", "--detach", "--json", "--no-cache"], cwd=work,
            capture_output=True, text=True, check=True).stdout)
        flow_run_id = execution["flow_run_id"]
        wait_for(lambda: _flow_run_state(stack, flow_run_id) == StateType.RUNNING, 120,
                 "the flow run to run")
        time.sleep(HEARTBEAT_SECONDS + 5)  # the automation starts after a first heartbeat
        os.killpg(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        offline = crashed = None
        while time.monotonic() - killed < 300 and (offline is None or crashed is None):
            if offline is None and _worker_status(stack) == "OFFLINE":
                offline = round(time.monotonic() - killed, 1)
            if crashed is None and _flow_run_state(stack, flow_run_id) == StateType.CRASHED:
                crashed = round(time.monotonic() - killed, 1)
            time.sleep(1)
        return {"worker_offline": offline, "zombie_crashed": crashed}
    finally:
        victim.stop()


def _worker_status(stack: DevStack) -> str | None:
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
        for worker in client.read_workers_for_work_pool(PROCESS_POOL.name):
            if worker.name == VICTIM:
                return str(worker.status.value if worker.status else None)
    return None


def _flow_run_state(stack: DevStack, flow_run_id: str) -> StateType | None:
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
        state = client.read_flow_run(flow_run_id).state
        return state.type if state else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2)
    trials = parser.parse_args().trials
    stack = DevStack(DevSettings(), say=lambda _line: None)
    if stack.settings.lost_after_seconds < 600:
        sys.exit("Export RGRID_DEV_LOST_AFTER_SECONDS=900 and restart the stack with it (see "
                 "the docstring), so RGrid's own sweep does not mark the flow run Crashed "
                 "first.")
    with temporary_settings({PREFECT_API_URL: stack.settings.prefect_api_url}):
        automation = zombie_automation().create()
    main_worker = stack.processes["worker"]
    main_worker.stop()  # only the victim may take the run
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            work.chmod(0o777)
            results = [one_trial(stack, work) for _ in range(trials)]
    finally:
        with temporary_settings({PREFECT_API_URL: stack.settings.prefect_api_url}):
            automation.delete()
        stack.start_worker(main_worker, stack.settings.worker_name)
    report = {
        "worker_offline": [r["worker_offline"] for r in results],
        "zombie_crashed": [r["zombie_crashed"] for r in results],
        "flow_heartbeat_seconds": HEARTBEAT_SECONDS,
        "automation_within_seconds": WITHIN.total_seconds(), "trials": trials,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for name in ("worker_offline", "zombie_crashed"):
        values = [v for v in report[name] if v is not None]
        median = f"{statistics.median(values):.1f} s" if values else "never (300 s)"
        print(f"{name:<15} {median} (median of {report[name]})")


if __name__ == "__main__":
    main()
