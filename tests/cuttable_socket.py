"""Relays whose open connections can be cut at once: a unix socket to the Docker engine
(as when the engine restarts under a running container), a TCP port to the API (as when
the network blinks under a follower). What was open breaks; new connections go through,
unless the relay is ``down()`` (as when the target is stopped) until ``up()``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

ENGINE = "/var/run/docker.sock"


class CuttableSocket:
    def __init__(self, path: Path, target: str = ENGINE) -> None:
        self.path, self.target = path, target
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._watched: list[tuple[bytes, threading.Event]] = []
        self._refused: dict[bytes, threading.Event] = {}
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

    refusing = False

    def heard(self, marker: bytes) -> threading.Event:
        """Set once a client has sent bytes holding ``marker`` (a request line, say) and
        they were passed on: what a test waits on before it cuts, so that the connection
        it means to break is open and not yet to come."""
        event = threading.Event()
        with self._lock:
            self._watched.append((marker, event))
        return event

    def refuse(self, marker: bytes) -> threading.Event:
        """Until ``allow(marker)``: a connection whose client sends bytes holding
        ``marker`` is broken before they pass, as by a server failing that one request
        (every other goes through). The event is set at the first refused."""
        event = threading.Event()
        with self._lock:
            self._refused[marker] = event
        return event

    def allow(self, marker: bytes) -> None:
        with self._lock:
            self._refused.pop(marker, None)

    def allow_all(self) -> None:
        with self._lock:
            self._refused.clear()

    def _passes(self, data: bytes) -> bool:
        with self._lock:
            refused = [event for marker, event in self._refused.items() if marker in data]
        for event in refused:
            event.set()
        return not refused

    def _passed_on(self, data: bytes) -> None:
        with self._lock:
            watched = list(self._watched)
        for marker, event in watched:
            if marker in data:
                event.set()

    def down(self) -> None:
        """Until ``up()``: what was open breaks, and new connections are closed at once,
        as when the target is not running."""
        self.refusing = True
        self.cut()

    def up(self) -> None:
        self.refusing = False

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
            if self.refusing:
                client.close()
                continue
            try:
                engine = self._connect_target()
            except OSError:
                client.close()  # as the target itself would refuse
                continue
            with self._lock:
                self._open += [client, engine]
            threading.Thread(target=self._relay, args=(client, engine), daemon=True).start()

    def _relay(self, client: socket.socket, engine: socket.socket) -> None:
        """Pumps both ways until either end closes, then closes both: a relay that kept
        its ended connections open would run the test process out of descriptors."""
        back = threading.Thread(target=_pump, args=(engine, client), daemon=True)
        back.start()
        _pump(client, engine, self._passes, self._passed_on)
        back.join()
        with self._lock:
            ended = [end for end in (client, engine) if end in self._open]
            self._open = [end for end in self._open if end not in ended]
        for end in ended:
            end.close()


    def _connect_target(self) -> socket.socket:
        target = socket.socket(socket.AF_UNIX)
        target.connect(self.target)
        return target


class CuttableTcp(CuttableSocket):
    """The same relay on <host>:<free port> (127.0.0.1 unless told), to
    ``127.0.0.1:target_port``."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port, self.host = target_port, host
        self._open = []
        self._lock = threading.Lock()
        self._watched = []
        self._refused = {}
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _connect_target(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.target_port))


def _pump(source: socket.socket, sink: socket.socket,
          passes: Callable[[bytes], bool] | None = None,
          seen: Callable[[bytes], None] | None = None) -> None:
    """Passes what ``source`` sends on to ``sink``, until either end closes or ``passes``
    refuses some bytes, which breaks the connection instead."""
    try:
        while (data := source.recv(65536)) and (passes is None or passes(data)):
            sink.sendall(data)
            if seen is not None:
                seen(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
