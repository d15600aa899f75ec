"""Runs one job's user container: start, stream stdout/stderr apart, enforce the timeout,
detect OOM, and always remove the container."""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.errors import DockerException, ImageNotFound
from docker.utils.socket import STDERR, STDOUT, frames_iter
from urllib3.exceptions import ReadTimeoutError

from flows.sandbox import ATTEMPT_LABEL, EXECUTION_LABEL, WORKER_LABEL, container_config
from rgrid_common.errors import DockerUnavailable, RGridError
from rgrid_common.protocol import JobSpec

OutputSink = Callable[[str, str], None]
STREAMS = {STDOUT: "stdout", STDERR: "stderr"}


@dataclass(frozen=True)
class ContainerOutcome:
    exit_code: int | None
    timed_out: bool = False
    oom_killed: bool = False
    image_id: str | None = None  # the image it ran, by content (sha256:…)


def connect_docker(worker_name: str, base_url: str | None = None,
                   runtime: str | None = None) -> docker.DockerClient:
    """The worker's engine, checked to answer and (``runtime`` given) to have that OCI
    runtime; a node without it gives the attempt back, to run on another."""
    try:
        client = (docker.DockerClient(base_url=base_url) if base_url
                  else docker.from_env())
        # No proxy or .netrc from the environment for the engine: requests looked them up
        # on each of an item's six calls (py-spy: ~2 % of a worker's time in a batch).
        client.api.trust_env = False
        client.ping()
        runtimes = client.info().get("Runtimes", {}) if runtime else {}
    except (DockerException, requests.RequestException) as exc:
        raise DockerUnavailable(
            f"Docker engine not reachable on worker {worker_name!r}: {exc}",
            "Start Docker on the worker (`dockerd` or `systemctl start docker`) "
            "and check DOCKER_HOST.",
        ) from exc
    if runtime and runtime not in runtimes:
        client.close()
        raise DockerUnavailable(
            f"The Docker engine on worker {worker_name!r} has no OCI runtime {runtime!r} "
            f"(it has {', '.join(sorted(runtimes)) or 'none'}).",
            "Install it (`apt-get install runsc` for gVisor) and add it to the engine's "
            "daemon.json as in hetzner_autoscaler/node/docker-daemon.json, or set "
            "RGRID_CONTAINER_RUNTIME=runc.")
    return client


def run_container(client: docker.DockerClient, job: JobSpec, *, work_dir: Path, uid: int,
                  worker: str, on_output: OutputSink, runtime: str = "runc",
                  stopped: threading.Event | None = None) -> ContainerOutcome:
    """Run the job's container on ``work_dir`` as /work, under the OCI ``runtime``; the
    container is removed after. ``stopped`` set (the attempt was cancelled or given to
    another worker) before the container started, it is killed as soon as it has; set
    later, ``stop_attempt`` kills it.

    Six calls to the engine, as ``docker run`` makes: create, attach, start, wait,
    inspect, remove. The SDK's container objects cost four more per item (an inspect
    after the create and before each of two log streams), on the engine and here."""
    container_id = _create_container(client.api, job, work_dir, uid, worker, runtime)
    try:
        return _run_to_completion(client.api, container_id, job, on_output, stopped)
    finally:
        client.api.remove_container(container_id, force=True)


def _create_container(api: docker.APIClient, job: JobSpec, work_dir: Path, uid: int,
                      worker: str, runtime: str) -> str:
    try:
        return api.create_container(**container_config(job, work_dir=work_dir, uid=uid,
                                                       worker=worker, api=api,
                                                       runtime=runtime))["Id"]
    except ImageNotFound as exc:
        raise RGridError(f"Runtime image {job.image!r} is not on this worker.",
                         "Build it with `./scripts/dev up` or `docker pull` it on the "
                         "worker.") from exc


def remove_leftovers(client: docker.DockerClient, worker: str) -> int:
    """Containers an earlier life of this worker started and, killed, never removed; their
    executions were given to other workers meanwhile. How many were removed."""
    leftovers = client.containers.list(all=True, filters={"label": f"{WORKER_LABEL}={worker}"})
    for container in leftovers:
        container.remove(force=True)
    return len(leftovers)


def stop_attempt(client: docker.DockerClient, execution_id: str, attempt: int) -> int:
    """Kills the container of one attempt (another worker may be running the next)."""
    running = client.containers.list(filters={"label": [f"{EXECUTION_LABEL}={execution_id}",
                                                        f"{ATTEMPT_LABEL}={attempt}"]})
    for container in running:
        container.kill()
    return len(running)


def _run_to_completion(api: docker.APIClient, container_id: str, job: JobSpec,
                       on_output: OutputSink, stopped: threading.Event | None
                       ) -> ContainerOutcome:
    reader = _attach(api, container_id, on_output)
    api.start(container_id)
    if stopped is not None and stopped.is_set():
        api.kill(container_id)
    timed_out = False
    try:
        api.wait(container_id, timeout=job.timeout_seconds)
    except requests.exceptions.RequestException as exc:
        if not _is_read_timeout(exc):
            raise DockerUnavailable(
                f"The Docker engine went away while {job.execution_id} ran: {exc!r}",
                "The execution is tried again; if it keeps happening, check the engine "
                "on that worker.") from exc
        timed_out = True
        api.kill(container_id)
    reader.join(timeout=10)
    attrs = api.inspect_container(container_id)
    state = attrs["State"]
    return ContainerOutcome(exit_code=state.get("ExitCode"), timed_out=timed_out,
                            oom_killed=bool(state.get("OOMKilled")),
                            image_id=attrs.get("Image"))


def _is_read_timeout(exc: requests.exceptions.RequestException) -> bool:
    """How the docker SDK reports that wait() ran past its timeout: a ReadTimeout or, on a
    unix socket, a ConnectionError around urllib3's ReadTimeoutError. Anything else (a
    refused connection, a response cut short) is the engine gone (stopped, restarted,
    its socket cut), not the script's timeout."""
    return isinstance(exc, requests.exceptions.ReadTimeout) or any(
        isinstance(arg, ReadTimeoutError) for arg in exc.args)


def _attach(api: docker.APIClient, container_id: str, on_output: OutputSink
            ) -> threading.Thread:
    """A thread passing the container's stdout and stderr to ``on_output`` as they come,
    in the order written, until the container ends (or never starts). Attached before
    the start, as ``docker run`` does, so no line is missed."""
    sock = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})

    def read() -> None:
        decoders = {name: codecs.getincrementaldecoder("utf-8")(errors="replace")
                    for name in STREAMS.values()}
        try:
            for number, data in frames_iter(sock, tty=False):
                name = STREAMS.get(number)
                if name and (text := decoders[name].decode(data)):
                    on_output(name, text)
        finally:
            sock.close()
            for name, decoder in decoders.items():
                if tail := decoder.decode(b"", final=True):
                    on_output(name, tail)

    thread = threading.Thread(target=read, name="output-reader", daemon=True)
    thread.start()
    return thread
