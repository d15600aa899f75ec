"""Makes sure a Docker engine answers, installing and starting one if needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException

from devstack.processes import ManagedProcess
from hetzner_autoscaler.cloud_init import DOCKER_DAEMON_CONFIG
from rgrid_common.errors import RGridError

Say = Callable[[str], None]


def docker_answers() -> bool:
    try:
        docker.from_env(timeout=5).ping()
        return True
    except (DockerException, OSError):
        return False


def ensure_docker_engine(home: Path, say: Say) -> None:
    if docker_answers():
        say("✓ Docker engine answers")
        return
    if shutil.which("dockerd") is None:
        _install_docker(say)
    process = ManagedProcess("dockerd", home)
    say("… starting the Docker engine")
    process.start(dockerd_command(), env=dict(os.environ), cwd=home)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if docker_answers():
            say(f"✓ Docker engine started (pid {process.pid})")
            return
        if process.pid is None:
            break
        time.sleep(0.5)
    raise RGridError(f"The Docker engine did not start.\n{process.log_tail()}",
                     f"See {process.log_file}.")


def dockerd_command() -> list[str]:
    """The engine as on a node: gVisor's runsc beside runc where it is installed
    (RGRID_CONTAINER_RUNTIME=runsc uses it)."""
    command = ["dockerd", "--bridge=none", "--iptables=false"]
    if shutil.which("runsc"):
        command += ["--config-file", str(DOCKER_DAEMON_CONFIG)]
    return command


def _install_docker(say: Say) -> None:
    if os.geteuid() != 0:
        raise RGridError("No Docker engine answers and dockerd is not installed.",
                         "Install Docker (e.g. `sudo apt-get install docker.io`) and retry.")
    say("… installing the Docker engine (apt-get install docker.io)")
    apt_install("docker.io")


def apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env,
                   stdout=subprocess.DEVNULL)
