"""The chaos suite's faults and what must hold after each (the tests are
``test_distributed.py`` and ``test_single_machine.py``).

One part broken at a time under running work: a 200-item batch and a followed single
run, each followed by the real CLI. Whatever broke, every execution ends once, none is
lost, every output arrives (each attempt's uploaded once, none overwritten), and each CLI
either finishes or says the exact command that picks up, which then does.

A fault is held for a set time (a restart at once, PostgreSQL 10 s, S3 30 s, the network
90 s): that is the fault itself, not a wait on the work, which is always awaited by event.
With ``RGRID_CHAOS_REPORT`` set, each test appends its row of the README's table there.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx

from cli.config import read_config
from tests.chaos.conftest import S3_BUCKET, ChaosStack
from tests.conftest import write_script
from tests.helpers import Followed, Rgrid, wait_for

ITEMS = 200
LINES = 60
ITEM = """\
import pathlib, sys, time
text = pathlib.Path(sys.argv[1]).read_text()
time.sleep(0.3)
pathlib.Path("result.txt").write_text(text.upper())
"""
# 60 numbered lines, one every 0.5 s, then an output: long enough to break something under
FOLLOWED = (f"import pathlib, time\nfor i in range({LINES}):\n"
            "    print(f'line {i}', flush=True)\n    time.sleep(0.5)\n"
            "pathlib.Path('done.txt').write_text('done')\n")
EXPECTED_LINES = [f"line {i}" for i in range(LINES)]
PICK_UP = re.compile(r"Pick up with (.*)\.$", re.MULTILINE)
COMMAND = re.compile(r"`rgrid ([^`]+)`")
ATTEMPT_PREFIX = re.compile(r"^attempt \d+ on [^:]+: ")


@dataclass(frozen=True)
class Fault:
    name: str
    hold_seconds: float
    breaks: Callable[[ChaosStack], None]
    mends: Callable[[ChaosStack], None]
    on_single_machine: bool = True
    # a worker cut off cannot say whether it finished: its work runs again elsewhere
    reruns_work: bool = False

    def __str__(self) -> str:
        return self.name


def _stop(service: str) -> Callable[[ChaosStack], None]:
    return lambda chaos: chaos.stack.processes[service].stop()


FAULTS = [
    Fault("API restarted", 0, _stop("api"), lambda chaos: chaos.stack.start_api()),
    Fault("Prefect server restarted", 0, _stop("prefect-server"),
          lambda chaos: chaos.stack.start_prefect_server()),
    Fault("PostgreSQL restarted (down 10 s)", 10, lambda chaos: chaos.postgres.stop(),
          lambda chaos: chaos.postgres.start()),
    Fault("S3 down 30 s", 30, lambda chaos: chaos.s3.down(), lambda chaos: chaos.s3.up(),
          on_single_machine=False),
    Fault("a worker's network cut 90 s", 90, lambda chaos: chaos.network.cut(),
          lambda chaos: chaos.network.restore(), on_single_machine=False, reruns_work=True),
]


def survives(fault: Fault, chaos: ChaosStack, folder: Path) -> None:
    rgrid = Rgrid(chaos.stack.settings.cli_config, folder)
    api = _api(chaos)
    write_script(folder, "item.py", ITEM)
    write_script(folder, "followed.py", FOLLOWED)
    (folder / "in").mkdir()
    for index in range(ITEMS):
        (folder / "in" / f"in{index}.txt").write_text(f"item {index}\n")

    batch = Followed(rgrid.start("run", "item.py", "--batch", "in/*.txt", "--parallel", "3",
                                   "--no-cache"))
    earlier_runs = _followed_runs(rgrid)
    single = Followed(rgrid.start("run", "followed.py", "--no-cache"))
    single.wait_for_output("line 3")
    batch.wait_for_output("Starting batch bat_", stream="stderr")
    batch_id = re.search(r"Starting batch (bat_\w+)", "".join(batch.stderr)).group(1)
    wait_for(lambda: _batch(api, batch_id)["counts"]["succeeded"] >= 20, 300,
             "20 items of the batch to succeed")

    started = time.monotonic()
    fault.breaks(chaos)
    time.sleep(fault.hold_seconds)  # the fault's length (see the module's docstring)
    fault.mends(chaos)
    broken_for = time.monotonic() - started

    batch_outcome, _ = _finished_or_picked_up(rgrid, batch)
    single_outcome, picked_up_output = _finished_or_picked_up(rgrid, single)

    items = _items(api, batch_id)
    assert len(items) == ITEMS, "every item is there, none made twice"
    assert {item["status"] for item in items} == {"succeeded"}, _unsucceeded(items)
    for index in range(ITEMS):
        assert (folder / "outputs" / f"in{index}" / "result.txt").read_text() \
            == f"ITEM {index}\n"
    [followed] = [e for e in _followed_runs(rgrid).values() if e["id"] not in earlier_runs]
    assert followed["status"] == "succeeded"
    _whole_log(rgrid, followed, single, picked_up_output)
    assert (folder / "done.txt").read_text() == "done"
    uploads = _output_uploads(chaos, [*items, followed])
    assert all(count == 1 for count in uploads.values()), \
        {key: count for key, count in uploads.items() if count != 1}

    _report(fault, chaos, broken_for, items + [followed], batch_outcome, single_outcome)
    if not fault.reruns_work:
        rerun = [e for e in [*items, followed] if e["attempt"] > 1]
        assert not rerun, f"nothing is run twice: {_unsucceeded(rerun, every=True)}"


def _followed_runs(rgrid: Rgrid) -> dict[str, dict]:
    """The followed runs on record, by id: a stack serves every fault of its module."""
    listed = rgrid("list", "--json", "--limit", str(len(FAULTS) * (ITEMS + 1) + 10)).json()
    return {e["id"]: e for e in listed if e["script_name"] == "followed.py"}


def _whole_log(rgrid: Rgrid, followed: dict, single: Followed, picked_up_output: str) -> None:
    """The log holds the last attempt's lines whole and in order, and the follower saw
    each line once per attempt. An attempt cut off with its worker (its unsent lines are
    lost with it, and the log says so) is run again from the start, which prints again.
    A follower that gave up showed a beginning; the command it named shows the whole."""
    logged = _lines(rgrid("logs", followed["id"]).stdout)
    assert logged[-LINES:] == EXPECTED_LINES
    shown = _lines("".join(single.stdout))
    if picked_up_output:
        assert shown == logged[:len(shown)], f"a beginning of the log shown: {shown}"
        shown = _lines(picked_up_output)
    if followed["attempt"] == 1:
        assert shown == EXPECTED_LINES, f"every line shown once, in order: {shown}"
    else:
        assert shown[-LINES:] == EXPECTED_LINES, f"the last attempt's lines shown whole: {shown}"


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("line ")]


def _finished_or_picked_up(rgrid: Rgrid, followed: Followed) -> tuple[str, str]:
    """How the CLI that was following ended: it finished, or it named the commands that
    pick up, which then finish; and what those commands printed."""
    code, _, stderr = followed.finish(timeout=900)
    if code == 0:
        return "finished", ""
    said = PICK_UP.findall(stderr)
    assert said, f"exit {code} without the commands that pick up:\n{stderr[-3000:]}"
    commands = COMMAND.findall(said[-1])
    printed = ""
    for command in commands:
        picked = rgrid(*command.split(), timeout=900)
        assert picked.exit_code == 0, picked.stderr
        printed += picked.stdout
    return "picked up: " + ", then ".join(f"`rgrid {c}`" for c in commands), printed


def _api(chaos: ChaosStack) -> httpx.Client:
    key = read_config(chaos.stack.settings.cli_config)["api_key"]
    return httpx.Client(base_url=chaos.stack.settings.api_url, timeout=30,
                        headers={"Authorization": f"Bearer {key}"})


def _batch(api: httpx.Client, batch_id: str) -> dict:
    response = api.get(f"/api/v1/batches/{batch_id}")
    return response.json() if response.is_success else {"counts": {"succeeded": 0}}


def _items(api: httpx.Client, batch_id: str) -> list[dict]:
    response = api.get(f"/api/v1/batches/{batch_id}/executions")
    response.raise_for_status()
    return response.json()["executions"]


def _unsucceeded(items: list[dict], every: bool = False) -> list[dict]:
    return [{k: item.get(k) for k in ("id", "status", "error", "attempt", "retried_errors")}
            for item in items if every or item["status"] != "succeeded"][:5]


def _output_uploads(chaos: ChaosStack, executions: list[dict]) -> dict[str, int]:
    """Per output object, how many times it was written: S3's versions (the bucket keeps
    every one) or, on a local store, one (a file there is written once, by rename). An
    output is stored under the attempt that wrote it, so an attempt run again elsewhere
    (its worker cut off) adds objects of its own and overwrites none."""
    if chaos.s3_endpoint is None:
        return {}
    s3 = boto3.client("s3", endpoint_url=chaos.s3_endpoint, aws_access_key_id="test-access",
                      aws_secret_access_key="test-secret", region_name="us-east-1")
    counts: dict[str, int] = {}
    for execution in executions:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=S3_BUCKET, Prefix=f"executions/{execution['id']}/")
        for page in pages:
            for version in page.get("Versions", []):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        assert f"executions/{execution['id']}/attempts/{execution['attempt']}/outputs/" \
            in " ".join(counts), "the finishing attempt's output is stored"
    return counts


def _report(fault: Fault, chaos: ChaosStack, broken_for: float, executions: list[dict],
            batch_outcome: str, single_outcome: str) -> None:
    if not (path := os.environ.get("RGRID_CHAOS_REPORT")):
        return
    row = {"fault": fault.name, "stack": "distributed" if chaos.s3 else "single machine",
           "broken_seconds": round(broken_for, 1),
           "retried": sum(1 for e in executions if e["attempt"] > 1),
           "why_retried": sorted({ATTEMPT_PREFIX.sub("", reason) for e in executions
                                  for reason in e.get("retried_errors") or []}),
           "batch_cli": batch_outcome, "single_cli": single_outcome,
           "lost": 0, "completed_twice": 0}
    with open(path, "a") as report:
        report.write(json.dumps(row) + "\n")
