"""Names that cross processes: the Prefect flows, their deployments, the work pools and
the batch queue. Spelled here once; ``prefect.yaml`` spells them too (YAML cannot import),
and ``tests/test_names.py`` fails if the two part."""

from __future__ import annotations

EXECUTE_FLOW = "rgrid-execute"  # one execution
BATCH_FLOW = "rgrid-batch"  # a batch's coordinator
SHARD_FLOW = "rgrid-batch-shard"  # runs a batch's items, one after another
ITEM_TASK = "rgrid-batch-item"  # an item as a task run of its shard (items_as_tasks)
SCHEDULED_BATCH_FLOW = "rgrid-scheduled-batch"  # a schedule's firing


def deployment(flow: str) -> str:
    """The deployment of ``flow`` ("flow/deployment": each is named like its flow)."""
    return f"{flow}/{flow}"


EXECUTE_DEPLOYMENT = deployment(EXECUTE_FLOW)
BATCH_DEPLOYMENT = deployment(BATCH_FLOW)
SHARD_DEPLOYMENT = deployment(SHARD_FLOW)
SCHEDULED_BATCH_DEPLOYMENT = deployment(SCHEDULED_BATCH_FLOW)

PROCESS_POOL_NAME = "rgrid-process"  # executions, on the single-machine default
CONTROL_POOL_NAME = "rgrid-control"  # coordination, never an execution's slot
BATCH_QUEUE_NAME = "batch-items"  # shards, behind single runs
DEFAULT_QUEUE_NAME = "default"

# The API's word beside an answer that succeeded (a spending limit nearly reached); the CLI
# prints it.
WARNING_HEADER = "RGrid-Warning"
