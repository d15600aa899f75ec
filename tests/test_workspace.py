"""The /work a shard's items take turns on: one allowance, mounted once, emptied between
executions, never carrying a file from one to the next (real loop mounts: the tests run
as root, as the workers do)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.disk import OWNER_MARK
from flows.workspace import Workspace

OWNER = "test-worker"


def _images(work_root: Path) -> list[Path]:
    return list(work_root.glob(f"*{OWNER_MARK}{OWNER}.img"))


def _mounted(folder: Path) -> bool:
    return os.path.ismount(folder)


@pytest.fixture()
def workspace(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the workers mount allowances as root; run the tests as root")
    space = Workspace(tmp_path / "work", owner=OWNER)
    yield space
    space.close()


def test_executions_of_one_size_share_one_allowance_each_finding_it_empty(workspace,
                                                                           tmp_path):
    with workspace.for_execution(64) as (first, allowance):
        assert allowance.enforced and _mounted(first)
        (first / "out.txt").write_text("first's output")
        (first / "sub" / "deeper").mkdir(parents=True)
        (first / "sub" / "deeper" / "x").write_bytes(b"x" * 1000)
        (first / ".hidden").write_text("h")
    with workspace.for_execution(64) as (second, allowance):
        assert second == first and _mounted(second)
        assert list(second.iterdir()) == [], "nothing of the first is left"
        assert allowance.enforced
    assert len(_images(tmp_path / "work")) == 1

    workspace.close()
    assert not first.exists() and _images(tmp_path / "work") == []


def test_the_allowance_still_holds_for_the_next_execution(workspace):
    with workspace.for_execution(8) as (folder, allowance):
        (folder / "a").write_bytes(b"a" * 6 * 2**20)
    with workspace.for_execution(8) as (folder, allowance):
        (folder / "b").write_bytes(b"b" * 6 * 2**20)  # room again: the first's is gone
        with pytest.raises(OSError, match="No space left"):
            (folder / "c").write_bytes(b"c" * 6 * 2**20)


def test_another_size_gets_an_allowance_of_its_own(workspace, tmp_path):
    with workspace.for_execution(16) as (small, _):
        pass
    with workspace.for_execution(32) as (large, _):
        assert large != small and not small.exists()
        stats = os.statvfs(large)
        assert stats.f_blocks * stats.f_frsize > 24 * 2**20
    assert len(_images(tmp_path / "work")) == 1


def test_a_failed_execution_leaves_no_allowance_behind(workspace, tmp_path):
    with pytest.raises(RuntimeError):
        with workspace.for_execution(16) as (folder, _):
            (folder / "half-written").write_text("x")
            raise RuntimeError("the engine went away")
    assert not folder.exists() and _images(tmp_path / "work") == []
    with workspace.for_execution(16) as (fresh, _):
        assert list(fresh.iterdir()) == []


def test_emptying_never_follows_a_link_out_of_the_folder(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    with workspace.for_execution(16) as (folder, _):
        (folder / "link").symlink_to(outside)
        (folder / "file-link").symlink_to(outside / "precious.txt")
    assert (outside / "precious.txt").read_text() == "keep me"
    with workspace.for_execution(16) as (folder, _):
        assert list(folder.iterdir()) == []
