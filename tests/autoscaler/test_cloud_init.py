"""A node's cloud-init, rendered from settings: valid YAML doing what a node needs to take
work without anyone logging in."""

from __future__ import annotations

import json

import pytest
import yaml

from hetzner_autoscaler.cloud_init import render_cloud_init
from hetzner_autoscaler.settings import AutoscalerSettings

SETTINGS = AutoscalerSettings(
    control_token="control-secret", node_prefect_api_url="https://prefect.example/api",
    node_prefect_auth_string="rgrid:prefect-secret", node_api_url="https://rgrid.example",
    work_pool="rgrid-docker", slots_per_node=2, node_rgrid_package="rgrid==0.1.0",
    node_runtime_images=["python:3.11-slim", "node:20-slim"])


def rendered(name: str = "rgrid-node-ab12", settings: AutoscalerSettings = SETTINGS) -> dict:
    text = render_cloud_init(settings, name, "wk_node-own-token")
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_it_installs_docker_pulls_the_runtimes_and_starts_the_worker_service():
    config = rendered()
    assert "docker.io" in config["packages"]
    commands = config["runcmd"]
    assert ["systemctl", "enable", "--now", "docker"] == commands[0]
    pulls = [c for c in commands if c[:2] == ["docker", "pull"]]
    assert pulls == [["docker", "pull", "python:3.11-slim"], ["docker", "pull", "node:20-slim"]]
    assert ["/opt/rgrid/venv/bin/pip", "install", "--quiet", "rgrid==0.1.0"] in commands
    assert ["docker", "build", "--tag", "rgrid/runner:latest", "/opt/rgrid/runner"] in commands
    assert commands[-1] == ["systemctl", "enable", "--now", "rgrid-worker"]
    # images are pulled before the worker can take work
    assert commands.index(pulls[-1]) < commands.index(commands[-1])


def test_user_containers_run_under_gvisor_on_nodes():
    """runsc is installed beside Docker, registered with the engine before it starts (the
    file is written before packages install), and the worker is told to use it."""
    config = rendered()
    assert "runsc" in config["packages"]
    files = {f["path"]: f for f in config["write_files"]}
    runtimes = json.loads(files["/etc/docker/daemon.json"]["content"])["runtimes"]
    assert runtimes["runsc"]["path"] == "/usr/bin/runsc"
    assert "--network=none" in runtimes["runsc"]["runtimeArgs"]
    assert "RGRID_CONTAINER_RUNTIME=runsc" in files["/etc/rgrid/worker.env"]["content"]


def test_the_credentials_go_to_a_root_only_env_file_the_service_reads():
    files = {f["path"]: f for f in rendered()["write_files"]}
    env = files["/etc/rgrid/worker.env"]
    assert env["permissions"] == "0600" and env["owner"] == "root:root"
    lines = dict(line.split("=", 1) for line in env["content"].splitlines())
    assert lines == {
        "PREFECT_API_URL": "https://prefect.example/api",
        "PREFECT_API_AUTH_STRING": "rgrid:prefect-secret",
        "RGRID_API_URL": "https://rgrid.example", "RGRID_WORKER_TOKEN": "wk_node-own-token",
        "RGRID_WORKER_NAME": "rgrid-node-ab12", "RGRID_WORK_POOL": "rgrid-docker",
        "RGRID_SLOTS": "2", "RGRID_CONTAINER_RUNTIME": "runsc",
        "RGRID_WORK_ROOT": "/var/lib/rgrid/work",
        "RGRID_LOCK_DIR": "/var/lib/rgrid/locks"}
    unit = files["/etc/systemd/system/rgrid-worker.service"]["content"]
    assert "EnvironmentFile=/etc/rgrid/worker.env" in unit
    assert "ExecStart=/opt/rgrid/start-worker.sh" in unit and "Restart=always" in unit
    script = files["/opt/rgrid/start-worker.sh"]["content"]
    assert 'prefect worker start --pool "$RGRID_WORK_POOL" --type docker' in script
    assert "wk_node-own-token" not in unit + script


def test_the_control_plane_token_never_reaches_a_node():
    assert "control-secret" not in render_cloud_init(SETTINGS, "rgrid-node-ab12",
                                                     "wk_node-own-token")


def test_a_value_with_a_line_break_is_refused_not_injected():
    bad = SETTINGS.model_copy(update={"node_rgrid_package": "rgrid\nruncmd: [rm, -rf, /]"})
    with pytest.raises(ValueError, match="node_rgrid_package|rgrid_package"):
        rendered(settings=bad)


def test_the_node_can_mount_disk_allowances_for_its_flow_runs():
    """The runner image has mkfs.ext4 and mount; the state folder is a shared mount, so a
    flow run's mount reaches the engine (docs/SECURITY.md, H1)."""
    files = {f["path"]: f for f in rendered()["write_files"]}
    assert "e2fsprogs mount" in files["/opt/rgrid/runner/Dockerfile"]["content"]
    script = files["/opt/rgrid/start-worker.sh"]["content"]
    assert "mount --make-rshared /var/lib/rgrid" in script
    assert script.index("--make-rshared") < script.index("prefect worker start")
