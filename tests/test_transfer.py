"""Streamed transfers against a real HTTP server that breaks on purpose: an interrupted
download is retried and nothing partial is left; a 5xx upload is retried; bad bytes never
reach the destination."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rgrid_common import transfer
from rgrid_common.transfer import (TransferFailed, download_verified, place_without_overwrite,
                                   upload_file, wire_form)
from tests.helpers import free_port

BODY = bytes(range(256)) * 4096  # 1 MB


class FlakyStorage(BaseHTTPRequestHandler):
    calls: dict[str, int] = {}
    received: list[bytes] = []

    def log_message(self, *args) -> None:
        pass

    def _count(self) -> int:
        self.calls[self.path] = self.calls.get(self.path, 0) + 1
        return self.calls[self.path]

    def do_GET(self) -> None:
        call = self._count()
        body = BODY if self.path != "/corrupt" else BODY[:-1] + b"!"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/interrupted" and call == 1:
            self.wfile.write(body[: len(body) // 2])  # then the connection drops
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_PUT(self) -> None:
        call = self._count()
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if call == 1:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.received.append(data)
        self.send_response(200)
        self.send_header("ETag", '"abc"')
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve(port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), FlakyStorage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def storage_url() -> Iterator[str]:
    FlakyStorage.calls, FlakyStorage.received = {}, []
    server = _serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_interrupted_download_is_retried_and_leaves_nothing_partial(storage_url, tmp_path):
    with httpx.Client() as http:
        partial = download_verified(http, f"{storage_url}/interrupted", tmp_path,
                                    sha256=hashlib.sha256(BODY).hexdigest(), size=len(BODY),
                                    name="data.bin")
    final = place_without_overwrite(partial, tmp_path / "data.bin")

    assert FlakyStorage.calls["/interrupted"] == 2
    assert final.read_bytes() == BODY
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_bytes_that_do_not_match_the_sha256_never_land(storage_url, tmp_path):
    with httpx.Client() as http, pytest.raises(TransferFailed, match="failed after 4 attempts"):
        download_verified(http, f"{storage_url}/corrupt", tmp_path,
                          sha256=hashlib.sha256(BODY).hexdigest(), size=len(BODY),
                          name="data.bin")
    assert list(tmp_path.iterdir()) == []


def test_an_upload_answered_503_is_sent_again_whole(storage_url, tmp_path):
    source = tmp_path / "up.bin"
    source.write_bytes(BODY)
    progress: list[int] = []

    with httpx.Client() as http:
        etag = upload_file(http, f"{storage_url}/put", source, size=len(BODY),
                           on_progress=progress.append)

    assert etag == '"abc"'
    assert FlakyStorage.received == [BODY]
    assert sum(progress) == len(BODY), "progress is rewound for the retry"


def test_a_storage_server_down_for_a_while_is_waited_out(tmp_path, monkeypatch):
    """Refused connections back off (0.5, 1, 2, 4, 8 s…) for about a minute before giving
    up: the server here comes up after the fifth wait, then answers 503 once."""
    FlakyStorage.calls, FlakyStorage.received = {}, []
    port, servers, waited = free_port(), [], []
    source = tmp_path / "up.bin"
    source.write_bytes(BODY)

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        if len(waited) == 5:
            servers.append(_serve(port))

    monkeypatch.setattr(transfer, "time", SimpleNamespace(sleep=sleep))
    try:
        with httpx.Client() as http:
            upload_file(http, f"http://127.0.0.1:{port}/put", source, size=len(BODY))
    finally:
        for server in servers:
            server.shutdown()

    assert waited == [0.5, 1, 2, 4, 8, 15]
    assert FlakyStorage.received == [BODY]


def test_a_storage_server_that_stays_down_is_an_error_saying_how_long(tmp_path, monkeypatch):
    source = tmp_path / "up.bin"
    source.write_bytes(BODY)
    waited: list[float] = []
    monkeypatch.setattr(transfer, "time", SimpleNamespace(sleep=waited.append))

    with httpx.Client() as http, pytest.raises(TransferFailed) as failure:
        upload_file(http, f"http://127.0.0.1:{free_port()}/put", source, size=len(BODY))

    assert "did not answer for 60 s (9 attempts)" in failure.value.message
    assert sum(waited) == sum(transfer.UNAVAILABLE_WAITS)


def test_an_existing_file_is_kept_and_the_new_one_numbered(tmp_path):
    (tmp_path / "out.csv").write_text("mine")
    for text in ("first", "second"):
        incoming = tmp_path / f".incoming-{text}"
        incoming.write_text(text)
        place_without_overwrite(incoming, tmp_path / "out.csv")

    assert (tmp_path / "out.csv").read_text() == "mine"
    assert (tmp_path / "out (1).csv").read_text() == "first"
    assert (tmp_path / "out (2).csv").read_text() == "second"


def test_text_is_gzipped_for_the_wire_and_binary_is_not(tmp_path):
    text, binary = tmp_path / "rows.csv", tmp_path / "blob.bin"
    text.write_text("a,b\n" * 5000)
    binary.write_bytes(BODY)

    packed = wire_form(text, "rows.csv", text.stat().st_size, tmp_path / "scratch")
    plain = wire_form(binary, "blob.bin", binary.stat().st_size, tmp_path / "scratch")

    assert packed.encoding == "gzip" and packed.stored_size < text.stat().st_size / 10
    assert gzip.decompress(packed.path.read_bytes()) == text.read_bytes()
    assert plain.encoding == "identity" and plain.path == binary
