"""`rgrid watch` as a user sees it, in a real pseudo-terminal: the live view of a batch
(counts, running items, the newest failure and its error), `l` for the newest failure's
log, `q` to stop watching while the batch goes on."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from tests.conftest import write_script
from tests.helpers import Rgrid
from tests.terminal import Terminal

# a.txt fails at once with a marked error; b.txt runs until the batch is cancelled
ITEM = ("import sys, time\n"
        "if sys.argv[1].endswith('a.txt'):\n"
        "    print('about to fail', flush=True)\n"
        "    sys.exit('boom-{mark}')\n"
        "time.sleep(300)\n")


def test_watch_shows_the_batch_live_with_its_failure_and_its_log(rgrid: Rgrid,
                                                                tmp_path: Path):
    mark = secrets.token_hex(3)
    write_script(tmp_path, "item.py", ITEM.format(mark=mark))
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(name)
    started = rgrid("run", "item.py", "--batch", "*.txt", "--parallel", "2", "--detach")
    assert started.exit_code == 0, started.stderr
    batch_id = re.search(r"bat_\w+", started.stderr)[0]
    terminal = Terminal(rgrid._argv(("watch", batch_id)), env=rgrid._env({}), cwd=tmp_path)
    try:
        terminal.wait_for_text(f"boom-{mark}")  # the newest failure, with its error
        terminal.wait_for_text("Running")
        assert "1 running" in terminal.text and "✗ 1" in terminal.text
        terminal.press("l")
        terminal.wait_for_text("── end of log ──")
        log = terminal.text.split("── log of #0")[1]
        assert "about to fail" in log and f"boom-{mark}" in log
        terminal.press("q")
        assert terminal.wait() == 0
        assert f"Stopped watching; {batch_id} goes on" in terminal.text
    finally:
        terminal.close()
        rgrid("cancel", batch_id)
    assert rgrid("status", batch_id, "--json").json()["status"] == "cancelled"
