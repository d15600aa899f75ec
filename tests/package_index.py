"""A real PEP 503 package index on 127.0.0.1 serving wheels built here, so dependency
layers are installed by pip for real with no network beyond the machine."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name


def build_wheel(directory: Path, name: str, version: str, module_source: str) -> Path:
    """A pure-Python wheel whose module ``name`` (dashes as underscores) holds
    ``module_source``."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": module_source,
        f"{dist_info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\n"
                                  f"Version: {version}\n"),
        f"{dist_info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: rgrid-tests\n"
                               "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = [f"{path},sha256={_digest(text.encode())},{len(text.encode())}"
              for path, text in files.items()]
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


class PackageIndex:
    """``add(name, version, source)`` publishes a wheel; ``url`` is the index's /simple."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "packages").mkdir(parents=True, exist_ok=True)
        handler = partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests: list[str] = []
        self._server.requests = self.requests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple"

    def add(self, name: str, version: str, module_source: str) -> Path:
        wheel = build_wheel(self.root / "packages", name, version, module_source)
        self._write_project_page(name)
        return wheel

    def add_from_pypi(self, requirement: str) -> None:
        """A real package's wheel, fetched by pip (as the test install itself was), served
        from here like any other."""
        name = requirement.split("==")[0]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--dest", str(self.root / "packages"),
                        requirement], check=True)
        self._write_project_page(name)

    def _write_project_page(self, name: str) -> None:
        project = canonicalize_name(name)
        wheels = sorted((self.root / "packages").glob(f"{name.replace('-', '_')}-*.whl"))
        links = "".join(
            f'<a href="../../packages/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
            f"{w.name}</a>\n" for w in wheels)
        page = self.root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")

    def __enter__(self) -> PackageIndex:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        self.server.requests.append(self.path)
