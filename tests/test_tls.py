"""The one TLS context of a process (``rgrid_common.tls``) reads its CA bundle only at the
first handshake, and verifies as httpx's default does: a server whose certificate no
trusted CA signed is refused; one signed by the CA that SSL_CERT_FILE names is accepted."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rgrid_common.tls import VerifyingContext


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTPS server for ``localhost`` with a self-signed certificate, and the
    certificate's file."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert, key)
    server.socket = serving.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://localhost:{server.server_address[1]}/", cert
    finally:
        server.shutdown()
        server.server_close()


def test_the_ca_bundle_is_read_at_the_first_handshake_not_before():
    context = VerifyingContext()
    assert context.get_ca_certs() == []
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_certificate_no_trusted_ca_signed_is_refused(https_server, monkeypatch):
    url, _ = https_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = VerifyingContext()
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.Client(verify=context).get(url)
    assert context.get_ca_certs(), "certifi's bundle was read at the handshake"


def test_the_ca_that_ssl_cert_file_names_is_trusted(https_server, monkeypatch):
    url, cert = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    response = httpx.Client(verify=VerifyingContext()).get(url)
    assert response.status_code == 200 and response.text == "hello"
