"""Output files: downloaded in parallel into the output folder, subfolders kept, each
verified against its sha256, never overwriting a file that is already there."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from cli.client import ApiClient
from cli.output import err_console
from cli.transfers import PARALLEL_TRANSFERS, human_size, storage_client, transfer_progress
from rgrid_common.errors import InvalidInput
from rgrid_common.transfer import (download_verified, place_without_overwrite, sha256_of,
                                   write_inline)

EXPIRY_WARNING = timedelta(days=3)


def list_artifacts(client: ApiClient, execution_id: str, kind: str | None = None, *,
                   inline: bool = False) -> list[dict]:
    """With ``inline``, small files come with their bytes (``content``)."""
    return client.get(f"/api/v1/executions/{execution_id}/artifacts", kind=kind,
                      inline=inline or None)["artifacts"]


def download_outputs(client: ApiClient, execution_id: str, output_dir: Path, *,
                     quiet: bool = False) -> list[Path]:
    """Returns where each output landed. Expired outputs are reported, not fetched."""
    outputs = list_artifacts(client, execution_id, kind="output", inline=True)
    live, placed = place_outputs(outputs, output_dir)
    if live and not quiet:
        _report(live, placed, output_dir)
    return placed


def place_outputs(outputs: list[dict], output_dir: Path) -> tuple[list[dict], list[Path]]:
    """Those of ``outputs`` not expired, and where each landed: a small one from its
    ``content``, the others downloaded, 4 at a time."""
    warn_about_expiry(outputs)
    live = [artifact for artifact in outputs if not artifact["expired"]]
    placed = {artifact["path"]: _place_inline(artifact, output_dir) for artifact in live
              if artifact.get("content") is not None}
    fetched = [artifact for artifact in live if artifact["path"] not in placed]
    if fetched:
        placed.update(zip([artifact["path"] for artifact in fetched],
                          _download(fetched, output_dir), strict=True))
    return live, [placed[artifact["path"]] for artifact in live]


def _place_inline(artifact: dict, output_dir: Path) -> Path:
    target = output_dir / _safe_relative(artifact["path"])
    if _already_there(target, artifact["sha256"]):  # picking up: fetched before
        return target
    partial = write_inline(artifact["content"], target.parent, sha256=artifact["sha256"],
                           size=artifact["size"], encoding=artifact["encoding"],
                           name=target.name)
    return place_without_overwrite(partial, target)


def _download(artifacts: list[dict], output_dir: Path) -> list[Path]:
    with storage_client() as storage, \
            transfer_progress([a["size"] for a in artifacts]) as progress, \
            ThreadPoolExecutor(PARALLEL_TRANSFERS) as pool:
        def fetch(artifact: dict) -> Path:
            target = output_dir / _safe_relative(artifact["path"])
            if _already_there(target, artifact["sha256"]):  # picking up: fetched before
                return target
            partial = download_verified(
                storage, artifact["url"], target.parent, sha256=artifact["sha256"],
                size=artifact["size"], name=target.name,
                on_progress=progress.track(f"downloading {artifact['path']}",
                                           artifact["size"]))
            return place_without_overwrite(partial, target)
        return list(pool.map(fetch, artifacts))


def _already_there(target: Path, sha256: str) -> bool:
    return target.is_file() and sha256_of(target) == sha256


def warn_about_expiry(artifacts: list[dict]) -> None:
    """Judged by the server's clock, which decides expiry, not by this machine's."""
    for artifact in artifacts:
        expires = datetime.fromisoformat(artifact["expires_at"])
        if artifact["expired"]:
            err_console.print(f"[yellow]![/] {artifact['path']} expired on "
                              f"{expires:%Y-%m-%d} and can no longer be downloaded.")
        elif artifact["expires_in_seconds"] < EXPIRY_WARNING.total_seconds():
            err_console.print(f"[yellow]![/] {artifact['path']} expires on "
                              f"{expires:%Y-%m-%d %H:%M} UTC; download it before then.")


def _safe_relative(path: str) -> Path:
    """The API checks output paths; the CLI checks again before writing anything."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InvalidInput(f"Refused to write output {path!r} outside the output folder.")
    return Path(*pure.parts)


def _report(artifacts: list[dict], placed: list[Path], output_dir: Path) -> None:
    total = sum(artifact["size"] for artifact in artifacts)
    err_console.print(f"[green]✓[/] Downloaded {len(artifacts)} "
                      f"output{'s' * (len(artifacts) != 1)} ({human_size(total)}) "
                      f"to {output_dir}")
    for artifact, path in zip(artifacts, placed, strict=True):
        shown = path.relative_to(output_dir).as_posix()
        note = "" if shown == artifact["path"] else f"  (kept the existing {artifact['path']})"
        err_console.print(f"  {shown}{note}")
