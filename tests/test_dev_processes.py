"""The dev stack's process management: started in the background, stopped by pid."""

import sys

from devstack.processes import ManagedProcess


def test_a_managed_process_runs_in_the_background_and_stops_by_pid(tmp_path):
    process = ManagedProcess("sleeper", tmp_path)
    pid = process.start([sys.executable, "-c", "import time; print('up', flush=True); "
                                               "time.sleep(600)"], env={}, cwd=tmp_path)
    assert process.pid == pid
    assert process.stop() is True
    assert process.pid is None
    assert not process.pid_file.exists()
    assert process.stop() is False


def test_a_process_that_ignores_sigterm_is_killed(tmp_path):
    process = ManagedProcess("stubborn", tmp_path)
    process.start([sys.executable, "-c", "import signal, time; "
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
                  env={}, cwd=tmp_path)
    assert process.stop(timeout=1) is True
    assert process.pid is None
