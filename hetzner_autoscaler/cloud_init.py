"""The cloud-init user data of a new node, from ``cloud-init/worker.yaml`` and the
autoscaler's settings."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from string import Template

from hetzner_autoscaler.settings import AutoscalerSettings

HERE = Path(__file__).parent
TEMPLATE = HERE / "cloud-init" / "worker.yaml"
START_SCRIPT = HERE / "node" / "start-worker.sh"
# The node's engine config: gVisor's runsc as a second OCI runtime. The single-machine
# default and the tests start their engine with it too.
DOCKER_DAEMON_CONFIG = HERE / "node" / "docker-daemon.json"


def render_cloud_init(settings: AutoscalerSettings, node_name: str, worker_token: str) -> str:
    """Values go into an env file (one line each) or a YAML list item (JSON-quoted), so
    none may hold a line break. ``worker_token`` is the node's own, issued for it alone:
    the control-plane token never leaves the control plane."""
    values = {
        "prefect_api_url": settings.node_prefect_api_url or settings.prefect_api_url,
        "prefect_auth_string": settings.node_prefect_auth_string.get_secret_value(),
        "rgrid_api_url": settings.node_api_url or settings.api_url,
        "worker_token": worker_token,
        "node_name": node_name,
        "work_pool": settings.work_pool,
        "slots": str(settings.slots_per_node),
        "container_runtime": settings.node_container_runtime,
        "rgrid_package": settings.node_rgrid_package,
        "runner_image": settings.node_runner_image,
        "runner_base_image": settings.node_runner_base_image,
    }
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} must be one line")
    pulls = "\n".join(f"  - [docker, pull, {json.dumps(image)}]"
                      for image in settings.node_runtime_images)
    return Template(TEMPLATE.read_text()).substitute(
        values, pull_images=pulls,
        start_script=textwrap.indent(START_SCRIPT.read_text(), " " * 6),
        docker_daemon_config=textwrap.indent(DOCKER_DAEMON_CONFIG.read_text(), " " * 6))
