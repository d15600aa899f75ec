"""Work pool definitions. ``PROCESS_POOL`` is the single-machine default for executions;
``CONTROL_POOL`` holds what coordinates (a batch's coordinator, a schedule's firing), so
that coordination never takes a slot that an execution needs.

On an execution pool, single runs come first: batch shards wait in ``BATCH_QUEUE``, a
queue of lower priority, so a worker with a free slot takes a waiting ``rgrid run``
before the next shard (and a running shard steps aside for one; see ``flows.batch``)."""

from dataclasses import dataclass

from rgrid_common.names import BATCH_QUEUE_NAME, CONTROL_POOL_NAME, PROCESS_POOL_NAME


@dataclass(frozen=True)
class WorkPoolSpec:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class WorkQueueSpec:
    name: str
    priority: int  # Prefect serves lower numbers first; a pool's default queue is 1
    description: str


PROCESS_POOL = WorkPoolSpec(
    name=PROCESS_POOL_NAME,
    type="process",
    description="Single-machine default: the worker runs each flow run as a local process.",
)
CONTROL_POOL = WorkPoolSpec(
    name=CONTROL_POOL_NAME,
    type="process",
    description="Batch coordinators and schedule firings, served beside the control plane; "
                "they only wait and start flow runs, and never take an execution's slot.",
)
BATCH_QUEUE = WorkQueueSpec(
    name=BATCH_QUEUE_NAME, priority=10,
    description="Batch shards: served after the pool's single runs (default queue).")


def ensure_batch_queue(client, pool: str) -> None:
    """``BATCH_QUEUE`` on ``pool`` with its priority (Prefect would make it on first use
    with the default priority, putting shards level with single runs)."""
    from prefect.exceptions import ObjectAlreadyExists

    try:
        client.create_work_queue(name=BATCH_QUEUE.name, work_pool_name=pool,
                                 priority=BATCH_QUEUE.priority,
                                 description=BATCH_QUEUE.description)
    except ObjectAlreadyExists:
        queue = client.read_work_queue_by_name(BATCH_QUEUE.name, work_pool_name=pool)
        if queue.priority != BATCH_QUEUE.priority:
            client.update_work_queue(queue.id, priority=BATCH_QUEUE.priority)
