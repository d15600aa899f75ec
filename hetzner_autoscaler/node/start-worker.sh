#!/bin/sh
# Starts this node's Prefect worker on RGrid's Docker work pool. Run by the rgrid-worker
# systemd unit with /etc/rgrid/worker.env, which cloud-init wrote (mode 0600): the Prefect
# API URL and its auth string, the RGrid API URL and this node's own worker token. The
# worker is named after the host (the Hetzner server's name): the autoscaler matches the two.
# /var/lib/rgrid is made a shared mount: each flow run (a container that may mount, and
# binds it rshared) mounts an execution's disk allowance there, and the mount must reach
# the host, where the engine resolves the user container's /work (work_pools/docker.py).
set -eu
: "${PREFECT_API_URL:?set in /etc/rgrid/worker.env}"
: "${RGRID_WORK_POOL:?set in /etc/rgrid/worker.env}"
mkdir -p /var/lib/rgrid/work
mountpoint -q /var/lib/rgrid || mount --bind /var/lib/rgrid /var/lib/rgrid
mount --make-rshared /var/lib/rgrid
exec /opt/rgrid/venv/bin/prefect worker start --pool "$RGRID_WORK_POOL" --type docker \
    --name "$(hostname)" --limit "${RGRID_SLOTS:-2}"
