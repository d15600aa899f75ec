"""A unix-socket relay to the Docker engine whose open connections can be cut at once,
as when the engine restarts under a running container: what was open breaks, new
connections go through again."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

ENGINE = "/var/run/docker.sock"


class CuttableSocket:
    def __init__(self, path: Path, target: str = ENGINE) -> None:
        self.path, self.target = path, target
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(str(path))
        self._listener.listen()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> CuttableSocket:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._listener.close()
        self.cut()

    def cut(self) -> int:
        """Breaks every open connection; returns how many there were."""
        with self._lock:
            cut, self._open = self._open, []
        for connection in cut:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        return len(cut) // 2

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.target)
            with self._lock:
                self._open += [client, engine]
            for source, sink in ((client, engine), (engine, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
