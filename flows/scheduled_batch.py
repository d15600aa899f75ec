"""The ``rgrid-scheduled-batch`` flow: what a schedule's Prefect deployment runs each time
it fires. It starts one normal batch of the schedule's stored request, whose own
``rgrid-batch`` flow run does the rest."""

from __future__ import annotations

from prefect import flow

from flows.control_plane import ControlPlane
from flows.settings import WorkerSettings
from rgrid_common.names import SCHEDULED_BATCH_FLOW


@flow(name=SCHEDULED_BATCH_FLOW)
def scheduled_batch(schedule_id: str) -> str:
    control_plane = ControlPlane.from_settings(WorkerSettings())
    try:
        return control_plane.fire_schedule(schedule_id)
    finally:
        control_plane.close()
