"""The chaos and live tests' relay must give back what it holds: every connection that
ends closes its two sockets in the test process, or a long run (the chaos suite sends
thousands of storage requests through one relay) runs out of file descriptors."""

from __future__ import annotations

import os
import socket
import threading
import time

from tests.cuttable_socket import CuttableTcp


def _echo_server() -> socket.socket:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                while data := connection.recv(4096):
                    connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_connections_that_ended_leave_no_descriptors_open_in_the_relay():
    listener = _echo_server()
    with CuttableTcp(listener.getsockname()[1]) as relay:
        before = _open_descriptors()
        for index in range(50):
            with socket.create_connection(("127.0.0.1", relay.port)) as client:
                client.sendall(b"ping %d" % index)
                assert client.recv(64) == b"ping %d" % index

        assert _until(lambda: _open_descriptors() <= before), \
            f"{_open_descriptors() - before} descriptors still open after 50 connections ended"
        assert relay.cut() == 0
    listener.close()


def test_a_connection_still_open_is_cut_and_counted():
    listener = _echo_server()
    with CuttableTcp(listener.getsockname()[1]) as relay:
        client = socket.create_connection(("127.0.0.1", relay.port))
        client.sendall(b"held")
        assert client.recv(64) == b"held"

        assert relay.cut() == 1
        assert client.recv(64) == b""  # broken under the client, as a network cut
        client.close()
    listener.close()
