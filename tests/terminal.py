"""A command run in a real pseudo-terminal, as a user's shell runs it: what it draws, and
keys pressed into it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading

from tests.helpers import wait_for

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd, rows: int = 40,
                 columns: int = 160) -> None:
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, start_new_session=True,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns),
                 "LINES": str(rows)})
        os.close(slave)
        self._drawn = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # the other end closed: the command ended
                return
            if not data:
                return
            self._drawn += data

    @property
    def text(self) -> str:
        """Everything drawn so far, escape sequences removed."""
        return ANSI.sub("", self._drawn.decode(errors="replace"))

    def wait_for_text(self, text: str, timeout: float = 120) -> None:
        wait_for(lambda: text in self.text, timeout, f"{text!r} on the terminal",
                 explain=lambda: self.text[-3000:])

    def press(self, key: str) -> None:
        os.write(self._master, key.encode())

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._master)
