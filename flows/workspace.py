"""The /work of one execution after another: a folder with its disk allowance, made for
the first and emptied between them.

A shard runs its batch's items one after another, all of one account. Making an allowance
(fallocate, mkfs, mount) and undoing it (umount, unlink) took ~48 ms of each item's wall
time on 2 cores (py-spy, README "Batch throughput"); emptying the folder takes a few. An
item gets the folder empty, as it would a new one; the allowance is made afresh when the
next item asks for another size, after an item whose attempt failed for a reason not its
own, and when the folder cannot be emptied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.disk import Allowance, disk_allowance
from flows.work_dir import fresh_work_dir


@dataclass
class _Held:
    megabytes: int
    folder: Path
    allowance: Allowance
    undo: ExitStack


class Workspace:
    def __init__(self, work_root: Path, owner: str) -> None:
        """``owner`` (the worker) names the allowance's image, for the worker to remove
        what it left if it is killed meanwhile (``remove_leftover_allowances``)."""
        self._work_root = work_root
        self._owner = owner
        self._held: _Held | None = None

    @contextmanager
    def for_execution(self, megabytes: int) -> Iterator[tuple[Path, Allowance]]:
        """An empty folder holding at most ``megabytes``, and its allowance."""
        held = self._take(megabytes)
        reusable = False
        try:
            yield held.folder, held.allowance
            reusable = True
        finally:
            if not (reusable and _emptied(held.folder)):
                self.close()

    def close(self) -> None:
        """Unmounts and removes the folder held; a next execution makes it anew."""
        held, self._held = self._held, None
        if held is not None:
            held.undo.close()

    def _take(self, megabytes: int) -> _Held:
        if self._held is not None and self._held.megabytes == megabytes:
            return self._held
        self.close()
        undo = ExitStack()
        try:
            folder = undo.enter_context(fresh_work_dir(self._work_root, "work"))
            allowance = undo.enter_context(disk_allowance(folder, megabytes,
                                                          owner=self._owner))
        except BaseException:
            undo.close()
            raise
        self._held = _Held(megabytes, folder, allowance, undo)
        return self._held


def _emptied(folder: Path) -> bool:
    """Removes everything in ``folder`` (never following a link out of it); whether it is
    empty now."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        return not any(folder.iterdir())
    except OSError:
        return False
