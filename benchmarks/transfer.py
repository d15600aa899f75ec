"""Upload and download of a large file through `rgrid`, against a plain client (curl)
copying the same bytes to and from the same server in the same run, plus the CLI's peak
RSS. Start the stack first: `./scripts/dev up`.

    python benchmarks/transfer.py [--mb 1024]

rgrid upload   = `rgrid run keep.py big.dat --no-cache-inputs --detach`: hashing (streamed
                 sha256) + signed PUT + submitting the execution.
rgrid download = `rgrid download ID`: signed GET, sha256 verified while streaming, placed
                 without overwriting.
curl           = `curl -T` / `curl -o` on signed URLs for the same object store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from cli.config import CliSettings
from rgrid_common.transfer import sha256_of

RESULTS = Path(__file__).parent / "results" / "transfer.json"
KEEP = "import shutil, sys\nshutil.copyfile(sys.argv[1], 'copy.dat')\n"


def run_measured(argv: list[str], cwd: Path) -> tuple[float, int, str]:
    """Wall time, peak RSS in MB (of this very process, via wait4) and stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{stdout.decode()}\n{stderr.decode()}")
    return elapsed, usage.ru_maxrss // 1024, stdout.decode()


def make_file(path: Path, megabytes: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        for index in range(megabytes):
            chunk = index.to_bytes(8, "big") + block[8:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def wait_finished(api: httpx.Client, execution_id: str) -> dict:
    while True:
        execution = api.get(f"/api/v1/executions/{execution_id}").json()
        if execution["status"] not in ("queued", "running"):
            return execution
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    megabytes = parser.parse_args().mb
    settings = CliSettings().resolved()
    api = httpx.Client(base_url=settings.api_url, timeout=60,
                       headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"})
    rgrid = [sys.executable, "-P", "-m", "cli.main"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "keep.py").write_text(KEEP)
        big = work / "big.dat"
        sha256 = make_file(big, megabytes)
        size = big.stat().st_size

        up_s, up_rss, out = run_measured(
            [*rgrid, "run", "keep.py", "big.dat", "--no-cache-inputs", "--no-cache", "--detach",
             "--json"],
            work)
        execution = wait_finished(api, json.loads(out)["id"])
        if execution["status"] != "succeeded":
            sys.exit(f"the execution {execution['status']}: {execution['error']}")
        down_s, down_rss, _ = run_measured(
            [*rgrid, "download", execution["id"], "--output-dir", "fetched"], work)
        if sha256_of(work / "fetched" / "copy.dat") != sha256:
            sys.exit("the downloaded copy differs")
        (work / "fetched" / "copy.dat").unlink()

        put_url = api.post("/api/v1/uploads", json={
            "files": [{"sha256": sha256, "size": size}], "force": True}).json()["files"][0]["url"]
        [output] = api.get(f"/api/v1/executions/{execution['id']}/artifacts",
                           params={"kind": "output"}).json()["artifacts"]
        curl_up_s, _, _ = run_measured(["curl", "-sSf", "-T", str(big), put_url], work)
        curl_down_s, _, _ = run_measured(
            ["curl", "-sSf", "-o", str(work / "curl.dat"), output["url"]], work)

    mb = size / 2**20
    report = {
        "size_mb": round(mb),
        "rgrid_upload_mb_s": mb / up_s, "curl_upload_mb_s": mb / curl_up_s,
        "rgrid_download_mb_s": mb / down_s, "curl_download_mb_s": mb / curl_down_s,
        "upload_ratio": curl_up_s / up_s, "download_ratio": curl_down_s / down_s,
        "cli_peak_rss_mb": max(up_rss, down_rss),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"file: {report['size_mb']} MB")
    print(f"upload    rgrid {report['rgrid_upload_mb_s']:7.1f} MB/s   curl "
          f"{report['curl_upload_mb_s']:7.1f} MB/s   ratio {report['upload_ratio']:.2f}")
    print(f"download  rgrid {report['rgrid_download_mb_s']:7.1f} MB/s   curl "
          f"{report['curl_download_mb_s']:7.1f} MB/s   ratio {report['download_ratio']:.2f}")
    print(f"CLI peak RSS: {report['cli_peak_rss_mb']} MB (target < 512 MB)")


if __name__ == "__main__":
    main()
