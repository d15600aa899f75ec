"""Uploads the files a script left in /work and describes them for the finish report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from flows.control_plane import ControlPlane
from flows.work_dir import LocalOutput
from rgrid_common.inline import InlineBudget, inline_text
from rgrid_common.protocol import JobSpec, OutputCompletion, OutputFile, OutputUpload
from rgrid_common.transfer import send_to_target, sha256_of, wire_form
from rgrid_common.validation import output_path_problem, shown_name

PARALLEL_UPLOADS = 4
NOTED_SKIPS = 20  # skipped outputs named one by one; beyond, a count


def storable(files: list[LocalOutput]) -> tuple[list[LocalOutput], list[str]]:
    """The outputs the store can hold, and a note for each it cannot (a name that is not
    UTF-8, too long, or holding control characters): those are skipped one by one, the
    others still come back."""
    kept, notes = [], []
    for output in files:
        problem = output_path_problem(output.path)
        if problem is None:
            kept.append(output)
        elif len(notes) < NOTED_SKIPS:
            notes.append(f"output '{shown_name(output.path)}' not kept: {problem}")
    skipped = len(files) - len(kept)
    if skipped > len(notes):
        notes.append(f"{skipped - len(notes)} more outputs not kept for their names")
    return kept, notes


def upload_outputs(control_plane: ControlPlane, storage: httpx.Client, job: JobSpec,
                   files: list[LocalOutput], scratch: Path) -> list[OutputFile]:
    """The outputs for the finish report. A small one rides in it (``content``); the
    others are offered to the API and uploaded to the URLs it answers. ``scratch`` holds
    gzip copies of text outputs, outside /work."""
    execution_id = job.execution_id
    if not files:
        return []
    wire = {f.path: wire_form(f.file, f.path, f.size, scratch) for f in files}
    budget = InlineBudget()
    described = [OutputFile(path=f.path, size=f.size, sha256=sha256_of(f.file),
                            content_type=f.content_type, **wire[f.path].describe())
                 for f in files]
    for output in described:
        if budget.takes(output.bytes_stored):
            output.content = inline_text(wire[output.path].path.read_bytes())
    uploaded = [output for output in described if output.content is None]
    if not uploaded:
        return described
    uploads = control_plane.output_uploads(execution_id, uploaded, attempt=job.attempt)

    def upload(target: OutputUpload) -> None:
        sent = wire[target.path]
        size = sent.stored_size if sent.stored_size is not None else sent.path.stat().st_size
        completion = send_to_target(storage, target.model_dump(), sent.path, size=size)
        if completion:
            control_plane.complete_output_upload(
                execution_id, OutputCompletion(path=target.path, attempt=job.attempt,
                                               **completion))

    with ThreadPoolExecutor(PARALLEL_UPLOADS) as pool:
        list(pool.map(upload, uploads))
    return described
