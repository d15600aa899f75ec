"""`rgrid run` end to end: the real CLI → API → Prefect flow run → worker → container."""

from __future__ import annotations

import docker

from flows.sandbox import EXECUTION_LABEL
from flows.settings import WorkerSettings
from tests.conftest import write_script
from tests.helpers import wait_for


def test_hello_with_args_and_env_prints_from_a_container_and_succeeds(rgrid, tmp_path):
    write_script(tmp_path, "hello.py", (
        "import os, sys\n"
        "print(f\"{os.environ['GREETING']}, {' '.join(sys.argv[1:])}!\")\n"))
    result = rgrid("run", "hello.py", "big", "world", "--env", "GREETING=Howdy", "--json")
    assert result.exit_code == 0, result.stderr
    execution = result.json()
    assert execution["status"] == "succeeded" and execution["exit_code"] == 0

    logs = rgrid("logs", execution["id"])
    assert logs.stdout == "Howdy, big world!\n"
    status = rgrid("status", execution["id"], "--json").json()
    assert status["status"] == "succeeded"
    assert status["started_at"] and status["finished_at"]


def test_output_streams_live_with_stdout_and_stderr_kept_apart(rgrid, tmp_path):
    write_script(tmp_path, "both.py", (
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"))
    result = rgrid("run", "both.py")
    assert result.exit_code == 0
    assert "to stdout" in result.stdout and "to stderr" not in result.stdout
    assert "to stderr" in result.stderr and "to stdout" not in result.stderr

    execution_id = rgrid("list", "--json").json()[0]["id"]
    assert rgrid("logs", execution_id, "--stderr-only").stderr == "to stderr\n"
    assert rgrid("logs", execution_id, "--stderr-only").stdout == ""


def test_script_error_fails_with_the_traceback_tail_and_its_exit_code(rgrid, tmp_path):
    write_script(tmp_path, "boom.py", "def f():\n    raise ValueError('bad value')\nf()\n")
    result = rgrid("run", "boom.py")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "ValueError: bad value" in result.stderr

    execution = rgrid("list", "--json").json()[0]
    assert execution["status"] == "failed"
    assert execution["error"].endswith("ValueError: bad value")
    assert "Traceback" in execution["error"]


def test_cli_exits_with_the_scripts_own_exit_code(rgrid, tmp_path):
    write_script(tmp_path, "seven.py", "import sys\nsys.exit(7)\n")
    result = rgrid("run", "seven.py")
    assert result.exit_code == 7
    assert rgrid("list", "--json").json()[0]["exit_code"] == 7


def test_allocating_1gb_is_killed_out_of_memory(rgrid, tmp_path):
    write_script(tmp_path, "hog.py", "block = bytearray(1024 * 1024 * 1024)\nprint('survived')\n")
    result = rgrid("run", "hog.py", "--json")
    execution = result.json()
    assert execution["status"] == "failed"
    assert execution["error"] == "killed: out of memory (512 MB)"
    assert "survived" not in rgrid("logs", execution["id"]).stdout


def test_memory_limit_is_configurable(rgrid, tmp_path):
    write_script(tmp_path, "hog.py", "block = bytearray(300 * 1024 * 1024)\nprint('ok')\n")
    result = rgrid("run", "hog.py", "--memory", "256m", "--json")
    assert result.json()["error"] == "killed: out of memory (256 MB)"


def test_sleeping_past_the_timeout_is_timed_out(rgrid, tmp_path):
    write_script(tmp_path, "nap.py", "import time\nprint('napping', flush=True)\ntime.sleep(60)\n")
    result = rgrid("run", "nap.py", "--timeout", "3")
    assert result.exit_code == 124
    assert "timed_out" in result.stderr
    execution_id = rgrid("list", "--json").json()[0]["id"]
    status = rgrid("status", execution_id)
    assert "timed_out" in status.stdout
    assert rgrid("status", execution_id, "--json").json()["error"] == "timed out after 3 s"


def test_script_has_no_network(rgrid, tmp_path):
    write_script(tmp_path, "net.py", (
        "import socket\n"
        "socket.create_connection(('127.0.0.1', 80), timeout=2)\n"))
    result = rgrid("run", "net.py")
    assert result.exit_code != 0
    assert "OSError" in result.stderr or "ConnectionRefusedError" in result.stderr
    interfaces = write_script(tmp_path, "ifaces.py", "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))\n")
    assert rgrid("run", interfaces.name).stdout.strip() == "['lo']"


def test_writing_outside_work_and_tmp_fails(rgrid, tmp_path):
    write_script(tmp_path, "writes.py", (
        "open('/work/ok.txt', 'w').write('fine')\n"
        "open('/tmp/ok.txt', 'w').write('fine')\n"
        "print('work and tmp writable')\n"
        "open('/usr/evil.txt', 'w').write('x')\n"))
    result = rgrid("run", "writes.py")
    assert "work and tmp writable" in result.stdout
    assert result.exit_code == 1
    assert "Read-only file system" in result.stderr


def test_script_runs_as_non_root_without_capabilities(rgrid, tmp_path):
    write_script(tmp_path, "who.py", (
        "import os\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
        "nnp = [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')]\n"
        "print(os.getuid(), os.getgid(), caps[0], nnp[0])\n"))
    uid, gid, caps, no_new_privs = rgrid("run", "who.py").stdout.split()
    assert int(uid) != 0 and int(gid) != 0
    assert int(caps, 16) == 0
    assert no_new_privs == "1"


def test_node_runtime_is_inferred_from_js(rgrid, tmp_path):
    write_script(tmp_path, "hi.js", "console.log('node', process.version, process.argv[2]);\n")
    result = rgrid("run", "hi.js", "arg1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("node v20.") and result.stdout.strip().endswith("arg1")


def test_containers_are_removed_after_every_outcome(rgrid, tmp_path):
    write_script(tmp_path, "ok.py", "print('ok')\n")
    write_script(tmp_path, "bad.py", "raise SystemExit(2)\n")
    ids = [rgrid("run", name, "--json").json()["id"] for name in ("ok.py", "bad.py")]
    client = docker.from_env()
    for execution_id in ids:
        assert client.containers.list(all=True, filters={
            "label": f"{EXECUTION_LABEL}={execution_id}"}) == []


def test_detach_returns_at_once_and_the_run_completes(rgrid, tmp_path):
    write_script(tmp_path, "quick.py", "print('done later')\n")
    submitted = rgrid("run", "quick.py", "--detach", "--json").json()
    assert submitted["status"] == "queued"
    followed = rgrid("logs", submitted["id"], "--follow")
    assert followed.stdout == "done later\n"
    assert rgrid("status", submitted["id"], "--json").json()["status"] == "succeeded"


def test_the_warm_worker_runs_executions_concurrently(rgrid, tmp_path):
    """Both executions are seen `running` at one moment. Each sleeps long enough that a
    slow pickup (the SQLite Prefect server backs off under write contention) cannot hide
    an overlap; the test fails only if the worker runs flow runs one at a time."""
    write_script(tmp_path, "slow.py", "import time, sys\ntime.sleep(20)\nprint(sys.argv[1])\n")
    ids = [rgrid("run", "slow.py", tag, "--detach", "--json").json()["id"] for tag in "ab"]
    seen_both_running = False
    while not seen_both_running:
        statuses = [rgrid("status", i, "--json").json()["status"] for i in ids]
        seen_both_running = statuses == ["running", "running"]
        if "succeeded" in statuses:
            break
    assert seen_both_running, f"the runs did not overlap: {statuses}"
    assert [rgrid("logs", i, "--follow").stdout for i in ids] == ["a\n", "b\n"]


def test_output_reaches_the_user_while_the_script_still_runs(rgrid, tmp_path):
    write_script(tmp_path, "slowly.py", (
        "import time\nprint('first', flush=True)\ntime.sleep(15)\nprint('second')\n"))
    execution_id = rgrid("run", "slowly.py", "--detach", "--json").json()["id"]
    logs = ""
    while "first" not in logs:
        logs = rgrid("logs", execution_id).stdout
        status = rgrid("status", execution_id, "--json").json()["status"]
        assert status in ("queued", "running"), f"finished before output was seen: {status}"
    assert "second" not in logs
    assert rgrid("logs", execution_id, "--follow").stdout == "first\nsecond\n"


FILL = """\
chunk = b"x" * 1024 * 1024
with open("fill.bin", "wb") as out:
    while True:
        out.write(chunk)
        out.flush()
"""
STEADY = """\
import time
open("steady.txt", "w").write("kept\\n" * 1000)
time.sleep(8)
assert open("steady.txt").read() == "kept\\n" * 1000
print("steady done")
"""


def test_writing_past_the_disk_allowance_fails_inside_and_spares_the_rest(rgrid, tmp_path):
    """/work is a filesystem of its allowance's size: the write past it fails in the
    script (ENOSPC), the execution fails saying so, what it wrote is bounded by the
    allowance, and an execution running beside it is untouched."""
    write_script(tmp_path, "fill.py", FILL)
    write_script(tmp_path, "steady.py", STEADY)
    steady = rgrid("run", "steady.py", "--detach", "--json").json()
    wait_for(lambda: rgrid("status", steady["id"], "--json").json()["status"] != "queued",
             120, "the steady one to start")

    filled = rgrid("run", "fill.py", "--disk", "64m", "--json", timeout=300)

    assert filled.exit_code == 1
    execution = filled.json()
    assert (execution["status"], execution["disk_mb"]) == ("failed", 64)
    assert execution["error"] == ("disk limit reached (64 MB): /work is full; ask for more "
                                  "with --disk")
    assert "No space left on device" in rgrid("logs", execution["id"]).stderr
    fill_bin = (tmp_path / "fill.bin").stat().st_size
    assert 32 * 2**20 < fill_bin <= 64 * 2**20, "bounded by the allowance, not by the node"
    done = wait_for(lambda: (lambda e: e if e["finished_at"] else None)(
        rgrid("status", steady["id"], "--json").json()), 120, "the steady one to finish")
    assert done["status"] == "succeeded"
    assert rgrid("logs", steady["id"]).stdout == "steady done\n"
    work_root = WorkerSettings().work_root  # the stack's workers keep the default
    assert not list(work_root.glob(f"{execution['id']}-*")), "nothing is left behind"
