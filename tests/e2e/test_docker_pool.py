"""The Docker-type work pool as a Hetzner node runs it, on this machine: prefect-docker's
worker runs each flow run in the RGrid runner image (built offline, once), which starts
the user's container on the same engine through the socket. The stack's execution and
shard deployments are moved onto that pool (coordinators stay on the control pool, as they
do beside a real control plane), so `rgrid run` and batches go through it unchanged."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentUpdate, WorkPoolCreate

from devstack.images import ensure_runner_image
from devstack.processes import ManagedProcess
from devstack.stack import DEPLOYMENTS, DevStack, _bin
from tests.conftest import _running_stack, write_script
from tests.e2e.test_run import FILL
from tests.helpers import Rgrid, wait_for, worker_polling
from work_pools import PROCESS_POOL, ensure_batch_queue
from work_pools.docker import (DOCKER_POOL, allowance_mounting, base_job_template,
                                node_env)

NODE = "docker-node-1"


@pytest.fixture(scope="module")
def docker_pool_stack(tmp_path_factory: pytest.TempPathFactory,
                      new_postgres_database) -> Iterator[DevStack]:
    """A stack whose deployments run on a Docker pool served by one docker worker."""
    runner = ensure_runner_image(print)
    state = tmp_path_factory.mktemp("node-state")
    state.chmod(0o755)
    with shared_mount(state):  # as the node's cloud-init makes /var/lib/rgrid
        yield from _docker_pool_stack(tmp_path_factory, new_postgres_database, runner, state)


@contextmanager
def shared_mount(folder: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        subprocess.run(["mount", "--make-rshared", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-R", "-l", str(folder)], check=False)


def _docker_pool_stack(tmp_path_factory, new_postgres_database, runner: str,
                       state: Path) -> Iterator[DevStack]:
    for stack in _running_stack(tmp_path_factory.mktemp("rgrid-docker-home"),
                                new_postgres_database(), worker_name="unused",
                                start_worker=False):
        _move_deployments_to_a_docker_pool(stack, runner, state)
        worker = ManagedProcess("docker-worker", stack.home)
        worker.start([_bin("prefect"), "worker", "start", "--pool", DOCKER_POOL.name,
                      "--type", "docker", "--name", NODE, "--limit", "2"],
                     env=_worker_env(stack), cwd=stack.home)
        try:
            wait_for(lambda: worker_polling(stack.settings.prefect_api_url, DOCKER_POOL.name,
                                            NODE), 60, "the docker worker")
            yield stack
        finally:
            worker.stop()


def _move_deployments_to_a_docker_pool(stack: DevStack, runner: str, state: Path) -> None:
    env = {**node_env(str(state)), "RGRID_API_URL": stack.settings.api_url,
           "RGRID_WORKER_TOKEN": stack.issue_worker_token(NODE), "RGRID_WORKER_NAME": NODE,
           "RGRID_HEARTBEAT_SECONDS": "1",
           "RGRID_PACKAGE_INDEX_URL": stack.settings.package_index_url}
    template = base_job_template(
        image=runner, env=env, volumes=["/var/run/docker.sock:/var/run/docker.sock"],
        container_create_kwargs=allowance_mounting(str(state)))
    with SyncPrefectClient(api=stack.settings.prefect_api_url) as client:
        client.create_work_pool(WorkPoolCreate(name=DOCKER_POOL.name, type=DOCKER_POOL.type,
                                               base_job_template=template))
        ensure_batch_queue(client, DOCKER_POOL.name)
        for name, (pool, queue) in DEPLOYMENTS.items():
            if pool == PROCESS_POOL.name:  # coordination stays on the control pool
                deployment = client.read_deployment_by_name(name)
                client.update_deployment(deployment.id, DeploymentUpdate(
                    work_pool_name=DOCKER_POOL.name, work_queue_name=queue))


def _worker_env(stack: DevStack) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": stack.settings.prefect_api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "0"}


@pytest.fixture
def rgrid_on_docker(docker_pool_stack: DevStack, tmp_path: Path) -> Rgrid:
    return Rgrid(docker_pool_stack.settings.cli_config, tmp_path)


def test_a_run_goes_through_the_docker_pool_sandboxed_with_its_files(rgrid_on_docker,
                                                                      tmp_path):
    (tmp_path / "data.txt").write_text("three little words\n")
    write_script(tmp_path, "count.py", (
        f"# {secrets.token_hex(4)}\n"
        "import os, socket, sys\n"
        "words = open(sys.argv[1]).read().split()\n"
        "print(len(words), 'words as uid', os.getuid())\n"
        "print('network:', [n for n in os.listdir('/sys/class/net') if n != 'lo'])\n"
        "open('count.txt', 'w').write(str(len(words)))\n"))

    result = rgrid_on_docker("run", "count.py", "data.txt")

    assert result.exit_code == 0, result.stderr
    assert "3 words as uid 1000" in result.stdout
    assert "network: []" in result.stdout  # the user's container has no network
    assert "/work is not limited" not in result.stderr  # its allowance was mounted
    assert (tmp_path / "count.txt").read_text() == "3"
    execution = rgrid_on_docker("list", "--json").json()[0]
    assert execution["worker"] == NODE and execution["status"] == "succeeded"


def test_a_batch_runs_through_the_docker_pool(rgrid_on_docker, tmp_path):
    for index in range(4):
        (tmp_path / f"in{index}.txt").write_text(f"line {index}\n")
    write_script(tmp_path, "upper.py", (
        f"# {secrets.token_hex(4)}\nimport sys\n"
        "open('out.txt', 'w').write(open(sys.argv[1]).read().upper())\n"))

    result = rgrid_on_docker("run", "upper.py", "--batch", "in*.txt", "--parallel", "2",
                             timeout=300)

    assert result.exit_code == 0, result.stderr
    assert "4 succeeded, 0 failed" in result.stderr
    assert (tmp_path / "outputs" / "in2" / "out.txt").read_text() == "LINE 2\n"


def test_the_disk_allowance_holds_on_the_docker_pool(rgrid_on_docker, tmp_path):
    """The flow run, in its container, mounts the allowance where the node's engine sees
    it (docs/SECURITY.md, H1): a write past it fails inside, the node is spared."""
    write_script(tmp_path, "fill.py", f"# {secrets.token_hex(4)}\n" + FILL)

    filled = rgrid_on_docker("run", "fill.py", "--disk", "32m", "--json", timeout=300)

    assert filled.exit_code == 1, filled.stderr
    execution = filled.json()
    assert execution["error"] == ("disk limit reached (32 MB): /work is full; ask for more "
                                  "with --disk")
    assert (tmp_path / "fill.bin").stat().st_size <= 32 * 2**20
