"""Dependency layers: a script's requirements installed once per node into an image
``FROM`` its runtime, tagged by ``sha256(requirements + runtime image id)`` and reused by
every later execution asking for the same.

Only the build reaches the package index (pip runs with the build's network); the script's
own container still runs with no network. By default pip takes wheels only, so installing
runs no package's code with that network. Executions needing the same new layer at once
wait on a node-wide file lock, so it is built once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.errors import DockerException, ImageNotFound

from flows.settings import WorkerSettings
from rgrid_common.errors import DockerUnavailable, RGridError
from rgrid_common.status import CacheOutcome

REPOSITORY = "rgrid-deps"
LAYER_LABEL = "rgrid.dependencies"
REQUIREMENTS_IN_IMAGE = "/tmp/rgrid-requirements.txt"
CA_IN_IMAGE = "/tmp/rgrid-index-ca.pem"
HIT, MISS = CacheOutcome.HIT.value, CacheOutcome.MISS.value
Say = Callable[[str], None]
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the engine paints a build's stderr red


class DependencyInstallFailed(RGridError):
    """pip refused the requirements: the user's to mend, never retried."""


@dataclass(frozen=True)
class Layer:
    image: str
    cache: str  # HIT or MISS


def layer_key(requirements: str, base_image_id: str) -> str:
    return hashlib.sha256(f"{requirements}\n{base_image_id}".encode()).hexdigest()


def dependency_layer(engine: docker.DockerClient, *, base_image: str, requirements: str,
                     settings: WorkerSettings, say: Say) -> Layer:
    """The image to run the script in: ``base_image`` with ``requirements`` installed."""
    try:
        base_id = engine.images.get(base_image).id
        key = layer_key(requirements, base_id)
        tag = f"{REPOSITORY}:{key}"
        if _exists(engine, tag):
            say(f"[rgrid] ✓ Using cached dependencies (layer {key[:12]})\n")
            return Layer(tag, HIT)
        with _node_lock(settings.lock_dir, key, say):
            if _exists(engine, tag):  # built by the execution we waited for
                say(f"[rgrid] ✓ Using cached dependencies (layer {key[:12]})\n")
                return Layer(tag, HIT)
            _build(engine, base_id, requirements, tag, key, settings, say)
        return Layer(tag, MISS)
    except ImageNotFound as exc:
        raise RGridError(f"Runtime image {base_image!r} is not on this worker.",
                         "Build it with `./scripts/dev up` or `docker pull` it on the worker."
                         ) from exc
    except (DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(f"The Docker engine failed while preparing dependencies: {exc}",
                                "Check the worker's Docker engine; the run is retried.") from exc


def _exists(engine: docker.DockerClient, tag: str) -> bool:
    try:
        engine.images.get(tag)
        return True
    except ImageNotFound:
        return False


@contextmanager
def _node_lock(lock_dir: Path, key: str, say: Say) -> Iterator[None]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"deps-{key}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("[rgrid] Waiting for another execution installing the same dependencies…\n")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(engine: docker.DockerClient, base_id: str, requirements: str, tag: str, key: str,
           settings: WorkerSettings, say: Say) -> None:
    count = len(requirements.splitlines())
    say(f"[rgrid] Installing dependencies ({count} requirement{'s' * (count != 1)}) "
        f"from {settings.package_index_url}…\n")
    started = time.monotonic()
    pip_output: list[str] = []
    for event in engine.api.build(
            fileobj=_build_context(base_id, requirements, settings), custom_context=True,
            tag=tag, labels={LAYER_LABEL: key}, network_mode=settings.dependency_network,
            rm=True, forcerm=True, pull=False, decode=True,
            timeout=settings.dependency_build_timeout_seconds):
        if "error" in event:
            raise DependencyInstallFailed(
                f"Installing the requirements failed: {_pip_error(pip_output, event)}",
                "Check the names and versions in requirements.txt against the package index "
                f"({settings.package_index_url}); pip's full output is in the log.")
        for line in _ANSI_COLOUR.sub("", event.get("stream", "")).splitlines(keepends=True):
            if not _is_docker_chatter(line):
                pip_output.append(line)
                say(line)
    say(f"[rgrid] ✓ Installed dependencies in {time.monotonic() - started:.1f}s "
        f"(layer {key[:12]}, reused from now on)\n")


def _build_context(base_id: str, requirements: str, settings: WorkerSettings) -> io.BytesIO:
    files = {"requirements.txt": requirements.encode()}
    options = "" if settings.allow_source_packages else " --only-binary=:all:"
    if settings.package_index_cert:
        files["index-ca.pem"] = settings.package_index_cert.read_bytes()
        options += f" --cert {CA_IN_IMAGE}"
    copies = "".join(f"COPY {name} /tmp/rgrid-{name}\n" for name in files)
    files["Dockerfile"] = (
        f"FROM {base_id}\n{copies}"
        "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir "
        "--disable-pip-version-check --no-input --progress-bar off --root-user-action=ignore "
        f"--index-url {settings.package_index_url}{options} -r {REQUIREMENTS_IN_IMAGE} "
        "&& rm -f /tmp/rgrid-*\n").encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _is_docker_chatter(line: str) -> bool:
    return line.startswith(("Step ", " ---> ", "Removing intermediate container",
                            "Successfully built", "Successfully tagged")) or not line.strip()


def _pip_error(pip_output: list[str], event: dict) -> str:
    """pip's own ``ERROR:`` lines, or the engine's message when pip said none."""
    errors = [line.strip() for line in pip_output if line.startswith("ERROR:")]
    return " ".join(errors[-2:]) if errors else event["error"].strip()
