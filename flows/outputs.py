"""Uploads the files a script left in /work and describes them for the finish report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from flows.control_plane import ControlPlane
from flows.work_dir import LocalOutput
from rgrid_api.schemas import OutputFile
from rgrid_common.transfer import sha256_of, upload_file

PARALLEL_UPLOADS = 4


def upload_outputs(control_plane: ControlPlane, storage: httpx.Client, execution_id: str,
                   files: list[LocalOutput]) -> list[OutputFile]:
    if not files:
        return []
    described = [OutputFile(path=f.path, size=f.size, sha256=sha256_of(f.file),
                            content_type=f.content_type) for f in files]
    local = {f.path: f for f in files}
    uploads = control_plane.output_uploads(execution_id, described)

    def upload(target) -> None:
        upload_file(storage, target.url, local[target.path].file,
                    size=local[target.path].size, headers=target.headers)

    with ThreadPoolExecutor(PARALLEL_UPLOADS) as pool:
        list(pool.map(upload, uploads))
    return described
