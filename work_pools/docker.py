"""The Docker-type work pool of Hetzner nodes (prefect-docker's worker, one per node).

Each flow run runs in the RGrid runner image that the node built at boot (cloud-init), so
nothing is pulled per run. It gets the node's Docker socket, to start the user containers
on the node's engine, and the node's work folder at the same path. The user containers
bind-mount their /work from that folder, and the engine resolves bind paths on the host.
Credentials are not in the pool's template, which Prefect stores and shows: the flow
reads them from the node's /etc/rgrid/worker.env, mounted read-only.

The flow run makes each execution's disk allowance (flows/disk.py): it loop-mounts an
ext4 image on the work folder. So its container may mount and use loop devices
(``CAP_SYS_ADMIN``, the loop devices, AppArmor's mount rule lifted: less than
``privileged``, and the container already holds the node's Docker socket, which is root
on the node: docs/SECURITY.md, M5), and the work folder is bind-mounted ``rshared`` from a
shared mount on the node, so that the mount reaches the node, where the engine resolves
the user container's /work.
"""

from __future__ import annotations

import copy

from prefect_docker.worker import DockerWorker

from work_pools import WorkPoolSpec

DOCKER_POOL = WorkPoolSpec(
    name="rgrid-docker",
    type="docker",
    description="Hetzner nodes: each flow run in the RGrid runner image, on the node's engine.",
)
RUNNER_IMAGE = "rgrid/runner:latest"
NODE_STATE = "/var/lib/rgrid"  # work folders, and the locks of dependency builds
NODE_ENV_FILE = "/etc/rgrid/worker.env"
def node_env(state_dir: str) -> dict[str, str]:
    """Where a flow run keeps work folders and locks: shared by every flow run of the node
    (one dependency layer is built once), at the same path for the engine."""
    return {"RGRID_WORK_ROOT": f"{state_dir}/work", "RGRID_LOCK_DIR": f"{state_dir}/locks"}


def allowance_mounting(state_dir: str) -> dict:
    """What the flow's container needs to mount disk allowances under ``state_dir``, as
    Docker's own container options (prefect-docker's ``volumes`` take only ro/rw).

    The state folder is bound at the same path with ``rshared`` propagation, so a mount
    made under it reaches the node; /dev is the node's, so a loop device the kernel adds
    is there; the device rules allow loop devices (block major 7) and their control
    (char 10:237) and nothing more."""
    return {
        "mounts": [{"Type": "bind", "Source": state_dir, "Target": state_dir,
                    "BindOptions": {"Propagation": "rshared"}},
                   {"Type": "bind", "Source": "/dev", "Target": "/dev"}],
        "cap_add": ["SYS_ADMIN"],
        "device_cgroup_rules": ["b 7:* rmw", "c 10:237 rmw"],
        "security_opt": ["apparmor=unconfined"],
    }


DEFAULTS = {
    "image": RUNNER_IMAGE,
    "image_pull_policy": "Never",  # built on the node at boot
    "network_mode": "host",  # the flow reports to the control plane; user code has none
    "auto_remove": True,
    "stream_output": True,
    "volumes": ["/var/run/docker.sock:/var/run/docker.sock",
                f"{NODE_ENV_FILE}:{NODE_ENV_FILE}:ro"],
    "container_create_kwargs": allowance_mounting(NODE_STATE),
    "env": node_env(NODE_STATE),
}


def base_job_template(**overrides) -> dict:
    """prefect-docker's template with RGrid's defaults (``overrides`` replace them)."""
    template = copy.deepcopy(DockerWorker.get_default_base_job_template())
    properties = template["variables"]["properties"]
    for name, value in {**DEFAULTS, **overrides}.items():
        properties[name]["default"] = value
    return template


if __name__ == "__main__":  # `python -m work_pools.docker > template.json`
    import json

    print(json.dumps(base_job_template(), indent=2))
