"""An execution's disk allowance: its /work is a filesystem of its own.

A folder on the node's disk would let one script fill the node, and with it every other
execution and the worker. Instead the folder is the mount point of an ext4 image of the
allowance's size, allocated up front beside it (``fallocate``: the node's disk holds the
allowance, never more, and a node without room for it says so before the script starts)
and loop-mounted. A write past the allowance fails inside the container with ENOSPC;
afterwards the filesystem's free space tells the flow the limit was reached.

Mounting needs root (CAP_SYS_ADMIN): the single-machine worker has it when run as root,
as on nodes. A worker without it runs /work unlimited and says so in the execution's log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rgrid_common.errors import RGridError
from rgrid_common.limits import size_text

MIB = 1024 * 1024
FULL_BELOW_BYTES = 1 * MIB  # free space under this after the script: the limit was reached
OWNER_MARK = "@"  # <folder>@<worker>.img: the image of an allowance, by the worker using it


class NoRoomForAllowance(RGridError):
    """The node's disk cannot hold the allowance: another node may (transient)."""

    transient = True


@dataclass
class Allowance:
    megabytes: int
    enforced: bool
    why_not: str = ""

    def reached(self, folder: Path) -> bool:
        if not self.enforced:
            return False
        stats = os.statvfs(folder)
        return stats.f_bavail * stats.f_frsize < FULL_BELOW_BYTES

    @property
    def text(self) -> str:
        return size_text(self.megabytes)


@contextmanager
def disk_allowance(folder: Path, megabytes: int, *, owner: str) -> Iterator[Allowance]:
    """``folder`` (empty) holds at most ``megabytes`` for the block; unmounted and its
    image removed after, whatever happened. The image is named after its ``owner`` (the
    worker), which removes what it left if it is killed meanwhile
    (``remove_leftover_allowances``)."""
    image = folder.with_name(f"{folder.name}{OWNER_MARK}{owner}.img")
    why_not = _cannot_mount() or _mounted(image, folder, megabytes)
    if why_not:
        yield Allowance(megabytes, enforced=False, why_not=why_not)
        return
    try:
        folder.chmod(0o777)
        shutil.rmtree(folder / "lost+found", ignore_errors=True)
        yield Allowance(megabytes, enforced=True)
    finally:
        _unmount(folder)
        image.unlink(missing_ok=True)


def _cannot_mount() -> str:
    """Why this process cannot make an allowance at all, or ""."""
    if os.geteuid() != 0:
        return "the worker is not root"
    return "" if shutil.which("mkfs.ext4") else "mkfs.ext4 is not installed (e2fsprogs)"


def _mounted(image: Path, folder: Path, megabytes: int) -> str:
    """Makes ``image`` and mounts it on ``folder``; why not, if it could not (a node
    without room raises, for the attempt to go elsewhere). No image is left either way."""
    try:
        _allocate(image, megabytes)
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
              "-E", "lazy_itable_init=1,nodiscard", str(image)])
        _run(["mount", "-o", "loop,nosuid,nodev", str(image), str(folder)])
    except (NoRoomForAllowance, OSError, subprocess.CalledProcessError) as exc:
        image.unlink(missing_ok=True)
        if isinstance(exc, subprocess.CalledProcessError):
            return f"{exc.cmd[0]} failed: {(exc.stderr or '').strip() or exc.returncode}"
        if isinstance(exc, OSError):
            return f"mounting it failed: {exc}"
        raise
    return ""


def remove_leftover_allowances(work_root: Path, owner: str) -> int:
    """What an earlier life of worker ``owner``, killed mid-execution, left: each mount
    undone, its folder and image removed. Its containers must be gone first."""
    images = list(work_root.glob(f"*{OWNER_MARK}{owner}.img")) if work_root.is_dir() else []
    for image in images:
        folder = work_root / image.name.split(OWNER_MARK)[0]
        _unmount(folder)
        shutil.rmtree(folder, ignore_errors=True)
        image.unlink(missing_ok=True)
    return len(images)


def _allocate(image: Path, megabytes: int) -> None:
    fd = os.open(image, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, megabytes * MIB)
    except OSError as exc:
        raise NoRoomForAllowance(
            f"This node has no room for a disk allowance of {size_text(megabytes)}: {exc}.",
            "The execution is retried on another node; ask for less with --disk.") from exc
    finally:
        os.close(fd)


def _unmount(folder: Path) -> None:
    """A busy mount (a process still inside, which should not be) is detached lazily."""
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)
