"""Inputs in, outputs back: the real CLI against a real stack whose files live either in
the API's local store or in an S3 server over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from minio import Minio

from tests.conftest import write_script
from tests.helpers import Rgrid

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROUND_TRIP = """\
import hashlib, json, os, sys
os.makedirs("plots", exist_ok=True)
names = sys.argv[1:]
digests = {os.path.basename(n): hashlib.sha256(open(n, "rb").read()).hexdigest() for n in names}
json.dump({"args": names, "digests": digests}, open("summary.json", "w"))
open("plots/chart.bin", "wb").write(bytes(range(256)) * 300 + b"\\x00\\xff")
open("report.txt", "w").write("lines: %d\\n" % len(open(names[0]).read().splitlines()))
print("done")
"""


@pytest.fixture(params=["local", "s3"])
def files_rgrid(request: pytest.FixtureRequest, tmp_path: Path) -> Rgrid:
    """The CLI in a fresh folder, against the local-store stack or the S3 stack."""
    stack = request.getfixturevalue("stack" if request.param == "local" else "s3_stack")
    return Rgrid(stack.settings.cli_config, tmp_path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _last_execution(rgrid: Rgrid) -> dict:
    return rgrid("list", "--json").json()[0]


def test_the_readme_example_leaves_word_counts_in_the_current_directory(files_rgrid,
                                                                       tmp_path):
    result = files_rgrid("run", str(EXAMPLES / "word_count.py"),
                         str(EXAMPLES / "data" / "sample.txt"))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("85 words, 34 distinct; top 3: the (11)")
    rows = (tmp_path / "word_counts.csv").read_text().splitlines()
    assert rows[:2] == ["word,count", "the,11"] and len(rows) == 35


def test_two_inputs_and_three_outputs_round_trip_byte_for_byte(files_rgrid, tmp_path):
    write_script(tmp_path, "analyze.py", ROUND_TRIP)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "blob.bin").write_bytes(os.urandom(50_000))
    os.symlink(tmp_path / "blob.bin", tmp_path / "linked.bin")
    out = tmp_path / "out"

    result = files_rgrid("run", "analyze.py", "data/table.csv", str(tmp_path / "linked.bin"),
                         "--output-dir", str(out))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "done\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["args"] == ["/work/table.csv", "/work/linked.bin"]
    assert summary["digests"] == {"table.csv": _sha256(tmp_path / "data" / "table.csv"),
                                  "linked.bin": _sha256(tmp_path / "blob.bin")}
    # chart.bin is past the inline size (uploaded); the others ride in the finish report
    assert (out / "plots" / "chart.bin").read_bytes() == bytes(range(256)) * 300 + b"\x00\xff"
    assert (out / "report.txt").read_text() == "lines: 3\n"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "plots/chart.bin", "report.txt", "summary.json"], "inputs and script are not outputs"

    artifacts = files_rgrid("artifacts", _last_execution(files_rgrid)["id"], "--json").json()
    outputs = {a["path"]: a for a in artifacts if a["kind"] == "output"}
    assert outputs["summary.json"]["content_type"] == "application/json"
    assert outputs["plots/chart.bin"]["sha256"] == _sha256(out / "plots" / "chart.bin")
    assert {a["path"] for a in artifacts if a["kind"] == "input"} == {"table.csv", "linked.bin"}


def test_text_travels_gzipped_and_arrives_as_it_was(files_rgrid, tmp_path):
    write_script(tmp_path, "echo.py", (
        "import shutil, sys\nshutil.copyfile(sys.argv[1], 'echo.csv')\n"))
    rows = "".join(f"{i},{i * i},row number {i}\n" for i in range(20_000))
    (tmp_path / "rows.csv").write_text(rows)

    result = files_rgrid("run", "echo.py", "rows.csv", "--output-dir", "out")

    assert result.exit_code == 0, result.stderr
    assert "gzipped)" in result.stderr
    assert (tmp_path / "out" / "echo.csv").read_text() == rows
    artifacts = files_rgrid("artifacts", _last_execution(files_rgrid)["id"], "--json").json()
    assert {(a["path"], a["encoding"]) for a in artifacts} == {("rows.csv", "gzip"),
                                                                ("echo.csv", "gzip")}


def test_a_12_mb_input_arrives_whole_with_a_progress_bar(files_rgrid, tmp_path):
    write_script(tmp_path, "digest.py", (
        "import hashlib, sys\nprint(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())\n"))
    big = tmp_path / "big.dat"
    big.write_bytes(os.urandom(12 * 1024 * 1024))

    result = files_rgrid("run", "digest.py", "big.dat")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == _sha256(big)
    assert "uploading big.dat" in result.stderr
    assert re.search(r"\d [kMG]?B/s", result.stderr), "a rate, in whatever unit it reached"


def test_the_same_input_is_uploaded_once(files_rgrid, tmp_path):
    write_script(tmp_path, "cat.py", "import sys\nprint(open(sys.argv[1]).read(), end='')\n")
    (tmp_path / "same.txt").write_text(f"unique {os.urandom(8).hex()}\n")

    first = files_rgrid("run", "cat.py", "same.txt", "same.txt")
    second = files_rgrid("run", "cat.py", "same.txt")
    forced = files_rgrid("run", "cat.py", "same.txt", "--no-cache-inputs")

    assert first.exit_code == second.exit_code == forced.exit_code == 0
    assert "Uploaded 1 input (" in first.stderr and "cached" not in first.stderr
    assert "Using cached inputs (1 file," in second.stderr and "Uploaded" not in second.stderr
    assert "Uploaded 1 input (" in forced.stderr
    assert second.stdout == (tmp_path / "same.txt").read_text()


def test_an_existing_file_is_never_overwritten(rgrid, tmp_path):
    write_script(tmp_path, "write.py", "open('output.csv', 'w').write('new\\n')\n")
    (tmp_path / "output.csv").write_text("mine\n")

    first = rgrid("run", "write.py")
    second = rgrid("run", "write.py")

    assert first.exit_code == second.exit_code == 0
    assert (tmp_path / "output.csv").read_text() == "mine\n"
    assert (tmp_path / "output (1).csv").read_text() == "new\n"
    assert (tmp_path / "output (2).csv").read_text() == "new\n"
    assert "kept the existing output.csv" in second.stderr


def test_remote_only_then_download(files_rgrid, tmp_path):
    write_script(tmp_path, "make.py", "import os\nos.makedirs('sub')\n"
                                      "open('sub/result.txt', 'w').write('42\\n')\n")
    result = files_rgrid("run", "make.py", "--remote-only")
    execution_id = _last_execution(files_rgrid)["id"]

    assert result.exit_code == 0, result.stderr
    assert f"rgrid download {execution_id}" in result.stderr
    assert not (tmp_path / "sub").exists()

    fetched = files_rgrid("download", execution_id, "--output-dir", "later")
    assert fetched.exit_code == 0, fetched.stderr
    assert (tmp_path / "later" / "sub" / "result.txt").read_text() == "42\n"


def test_symlinks_out_of_work_are_not_collected(rgrid, tmp_path):
    write_script(tmp_path, "links.py", (
        "import os\nos.symlink('/etc/passwd', 'passwd')\nos.symlink('/etc', 'etc')\n"
        "open('real.txt', 'w').write('ok')\n"))

    result = rgrid("run", "links.py")

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.py", "real.txt"]
    outputs = rgrid("artifacts", _last_execution(rgrid)["id"], "--json").json()
    assert [a["path"] for a in outputs] == ["real.txt"]


def test_outputs_of_a_failed_script_are_kept_too(rgrid, tmp_path):
    write_script(tmp_path, "partial.py", "open('partial.txt', 'w').write('half')\nraise SystemExit(3)\n")

    result = rgrid("run", "partial.py")

    assert result.exit_code == 3
    assert (tmp_path / "partial.txt").read_text() == "half"


def test_an_empty_work_folder_is_fine(rgrid, tmp_path):
    write_script(tmp_path, "nothing.py", "print('no files')\n")
    result = rgrid("run", "nothing.py")
    assert result.exit_code == 0, result.stderr
    assert "Downloaded" not in result.stderr
    assert rgrid("artifacts", _last_execution(rgrid)["id"], "--json").json() == []


def test_a_directory_as_input_is_refused_before_anything_is_submitted(rgrid, tmp_path):
    write_script(tmp_path, "any.py", "print(1)\n")
    (tmp_path / "folder").mkdir()
    before = len(rgrid("list", "--json", "--limit", "500").json())

    result = rgrid("run", "any.py", "folder")

    assert result.exit_code == 2
    assert "folder is a directory; inputs are files." in result.stderr
    assert "folder/*.csv" in result.stderr
    assert len(rgrid("list", "--json", "--limit", "500").json()) == before


def test_two_different_inputs_with_one_name_are_refused(rgrid, tmp_path):
    write_script(tmp_path, "any.py", "print(1)\n")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "data.csv").write_text(folder)

    result = rgrid("run", "any.py", "a/data.csv", "b/data.csv")

    assert result.exit_code == 2
    assert "Two different input files are named 'data.csv'" in result.stderr


@pytest.mark.slow
def test_files_over_100_mb_go_to_s3_in_parts_both_ways(s3_stack, s3_endpoint, tmp_path):
    """Above 100 MB the CLI (input) and the flow (output) use S3 multipart uploads."""
    rgrid = Rgrid(s3_stack.settings.cli_config, tmp_path)
    write_script(tmp_path, "copy.py", (
        "import hashlib, shutil, sys\nshutil.copyfile(sys.argv[1], 'copy.bin')\n"
        "print(hashlib.sha256(open('copy.bin', 'rb').read()).hexdigest())\n"))
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        for index in range(110):
            handle.write(index.to_bytes(4, "big") * (256 * 1024))
    expected = _sha256(big)

    result = rgrid("run", "copy.py", "big.bin", "--memory", "1g", "--output-dir", "out",
                   timeout=300)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == expected
    assert _sha256(tmp_path / "out" / "copy.bin") == expected
    s3 = Minio(s3_endpoint.removeprefix("http://"), access_key="test-access",
               secret_key="test-secret", secure=False)
    execution_id = _last_execution(rgrid)["id"]
    stored = {obj.object_name: obj for obj in s3.list_objects("rgrid-test", recursive=True)
              if obj.size == big.stat().st_size}
    output = stored.pop(f"executions/{execution_id}/attempts/1/outputs/copy.bin")
    [blob] = [obj for name, obj in stored.items() if name.endswith(expected)]
    assert output.etag.strip('"').endswith("-2") and blob.etag.strip('"').endswith("-2"), \
        "both went up as multipart uploads of 2 parts"


def test_signed_urls_never_reach_the_api_log(stack, rgrid, tmp_path):
    """A signed URL lets anyone read its object until it expires: the access log keeps
    the path and drops the query string that signs it."""
    # past the inline size, so that it goes through a signed URL both ways
    write_script(tmp_path, "keep.py",
                 "import os\nopen('kept.bin', 'wb').write(os.urandom(70_000))\n")

    result = rgrid("run", str(tmp_path / "keep.py"), "--no-cache")

    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "kept.bin").stat().st_size == 70_000
    storage_lines = [line for line in (stack.home / "logs" / "api.log").read_text(
        errors="replace").splitlines() if "/api/v1/storage/" in line]
    assert any("kept.bin" in line for line in storage_lines)
    assert not [line for line in storage_lines if "?" in line or "sig=" in line]


AWKWARD_NAMES = """\
import os
open("é.txt", "w").write("accent\\n")
open("q&a #1? 50%.txt", "w").write("url-ish\\n")
open("a" * 251 + ".txt", "w").write("long\\n")
open(b"latin1-\\xff.txt", "wb").write(b"not utf-8\\n")
deep = "/".join(["d" * 200] * 5)
os.makedirs(deep)
open(deep + "/deep.txt", "w").write("deep\\n")
print("wrote")
"""


def test_output_names_the_store_cannot_hold_are_skipped_one_by_one(files_rgrid, tmp_path):
    write_script(tmp_path, "names.py", AWKWARD_NAMES)

    result = files_rgrid("run", str(tmp_path / "names.py"), "--no-cache")

    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "é.txt").read_text() == "accent\n"
    assert (tmp_path / "q&a #1? 50%.txt").read_text() == "url-ish\n"
    assert (tmp_path / ("a" * 251 + ".txt")).read_text() == "long\n"
    assert not (tmp_path / ("d" * 200)).exists()
    assert "output 'latin1-\\xff.txt' not kept: its name is not valid UTF-8" in result.stderr
    execution = files_rgrid("status", _last_execution(files_rgrid)["id"], "--json").json()
    assert execution["status"] == "succeeded" and execution["attempt"] == 1
    assert execution["notes"] == [
        "output 'latin1-\\xff.txt' not kept: its name is not valid UTF-8",
        f"output '{'/'.join(['d' * 200] * 5)}/deep.txt' not kept: its path is longer "
        "than 960 bytes"]
