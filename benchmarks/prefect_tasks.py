"""What a Prefect task would cost each batch item: the A/B of the design card's "batches
are mapped tasks with retries". Start the stack first (`./scripts/dev up`: Prefect on
PostgreSQL), then:

    python benchmarks/prefect_tasks.py [--items 200] [--rounds 3] [--body 0.2]

One flow run on the stack's Prefect server runs ``--items`` items one after another, as the
shard does; each item's body is the same (a wait of ``--body`` seconds standing in for the
container, and one INFO line to the flow run's log, as the shard writes). The runs
alternate, one thing changed between them:

plain = the body called in the flow run, as items run today;
task  = the body as a Prefect task the way items would be: ``cache_policy=NONE``, no result
        persisted, retries=2, the task engine's INFO lines quiet.

Each run counts its wall time over the items (for the task side, until Prefect's server
holds every task run Completed) and the CPU seconds of the flow's process, the Prefect
server and PostgreSQL over the same span. A task is worth it, by the issue's rule, if it
costs under 0.05 s per item; on 2 cores, where a batch is CPU-bound, its CPU counts too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results" / "prefect_tasks.json"
SERVER_KINDS = {"prefect server": "prefect server", "postgresql": "postgres"}
RULE_SECONDS = 0.05
READ_PAGE = 200  # the most task runs Prefect returns per read


def _server_cpu() -> dict[str, float]:
    seconds = dict.fromkeys(SERVER_KINDS, 0.0)
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        command = " ".join(process.info["cmdline"] or [])
        for kind, mark in SERVER_KINDS.items():
            if mark in command and process.info["cpu_times"]:
                seconds[kind] += process.info["cpu_times"].user + process.info["cpu_times"].system
                break
    return seconds


def run_side(side: str, items: int, body: float) -> dict:
    """In a fresh process (Prefect reads its settings at import): one flow run of the items."""
    import logging

    from prefect import flow, get_client, task
    from prefect.cache_policies import NONE
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterId,
                                                TaskRunFilter, TaskRunFilterStateType,
                                                TaskRunFilterState)
    from prefect.client.schemas.objects import StateType
    from prefect.logging import get_run_logger
    from prefect.runtime import flow_run

    logging.getLogger("prefect.task_runs").setLevel(logging.WARNING)

    def item(number: int) -> int:
        time.sleep(body)
        return number

    as_task = task(name="rgrid-item", cache_policy=NONE, persist_result=False, retries=2)(item)

    def completed_tasks(flow_run_id: str) -> int:
        counted = 0
        with get_client(sync_client=True) as client:
            while page := client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                    task_run_filter=TaskRunFilter(state=TaskRunFilterState(
                        type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))),
                    limit=READ_PAGE, offset=counted):
                counted += len(page)
        return counted

    @flow(name=f"rgrid-bench-items-{side}")
    def items_flow() -> dict:
        run = as_task if side == "task" else item
        logger = get_run_logger()
        process = psutil.Process()
        server_before, own_before = _server_cpu(), process.cpu_times()
        started = time.perf_counter()
        for number in range(items):
            run(number)
            logger.info("item %d completed", number)
        if side == "task":  # the server's part is done when it holds every task run
            while completed_tasks(str(flow_run.get_id())) < items:
                time.sleep(0.05)
        wall = time.perf_counter() - started
        server_after, own_after = _server_cpu(), process.cpu_times()
        cpu = {kind: server_after[kind] - server_before[kind] for kind in SERVER_KINDS}
        cpu["flow process"] = (own_after.user + own_after.system
                               - own_before.user - own_before.system)
        return {"wall_s": wall, "cpu_s": cpu}

    return items_flow()


def _one_run(side: str, items: int, body: float) -> dict:
    from devstack.settings import DevSettings

    env = {**os.environ, "PREFECT_API_URL": DevSettings().prefect_api_url}
    done = subprocess.run([sys.executable, __file__, "--side", side, "--items", str(items),
                           "--body", str(body)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the {side} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--body", type=float, default=0.2, help="seconds each item waits")
    parser.add_argument("--side", choices=["plain", "task"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.side:
        print(json.dumps(run_side(options.side, options.items, options.body)))
        return

    runs: dict[str, list[dict]] = {"plain": [], "task": []}
    for _ in range(options.rounds):
        for side in runs:
            runs[side].append(_one_run(side, options.items, options.body))

    def per_item(side: str, pick) -> float:
        return statistics.median(pick(run) for run in runs[side]) / options.items

    wall = {side: per_item(side, lambda run: run["wall_s"]) for side in runs}
    cpu = {side: per_item(side, lambda run: sum(run["cpu_s"].values())) for side in runs}
    kinds = {side: {kind: per_item(side, lambda run, kind=kind: run["cpu_s"][kind])
                    for kind in runs[side][0]["cpu_s"]} for side in runs}
    report = {"items": options.items, "rounds": options.rounds, "body_s": options.body,
              "wall_per_item_s": wall, "cpu_per_item_s": cpu, "cpu_per_item_by_part_s": kinds,
              "task_costs_wall_s": wall["task"] - wall["plain"],
              "task_costs_cpu_s": cpu["task"] - cpu["plain"], "runs": runs}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"{options.items} items of {options.body} s, {options.rounds} rounds, "
          "medians per item:")
    for side in runs:
        parts = ", ".join(f"{kind} {value * 1000:.1f} ms" for kind, value in kinds[side].items())
        print(f"{side:6} wall {wall[side]:.4f} s  CPU {cpu[side] * 1000:.1f} ms ({parts})")
    print(f"a task costs {report['task_costs_wall_s'] * 1000:.1f} ms of wall and "
          f"{report['task_costs_cpu_s'] * 1000:.1f} ms of CPU per item "
          f"(rule: under {RULE_SECONDS * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
