"""The worker's side of an input carried in the claim's answer (``rgrid_common.inline``):
placed in /work as the file itself, or, when it is not what it says, nothing placed."""

from __future__ import annotations

import base64
import gzip
import hashlib

import httpx
import pytest

from flows.work_dir import place_inputs
from rgrid_common.errors import InvalidInput
from rgrid_common.protocol import InputDownload

UNREACHABLE = "http://127.0.0.1:9/never-asked"  # an inline input is never downloaded


def _carried(data: bytes, stored: bytes, **fields) -> InputDownload:
    return InputDownload(name="in.csv", url=UNREACHABLE, sha256=hashlib.sha256(data).hexdigest(),
                         size=len(data), content=base64.b64encode(stored).decode(), **fields)


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_an_inline_input_is_placed_as_the_file_itself(tmp_path, encoding):
    data = b"id,value\n" + b"1,2\n" * 400
    stored = gzip.compress(data) if encoding == "gzip" else data

    with httpx.Client() as http:
        place_inputs(tmp_path, [_carried(data, stored, encoding=encoding)], http)

    placed = tmp_path / "in.csv"
    assert placed.read_bytes() == data
    assert placed.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in tmp_path.iterdir()] == ["in.csv"]


@pytest.mark.parametrize("stored, fields", [
    (b"other bytes", {}),
    (gzip.compress(b"x" * 100_000), {"encoding": "gzip"}),
], ids=["wrong bytes", "gzip unpacking past its size"])
def test_an_inline_input_that_is_not_what_it_says_places_nothing(tmp_path, stored, fields):
    with httpx.Client() as http, pytest.raises(InvalidInput, match="in.csv"):
        place_inputs(tmp_path, [_carried(b"the real bytes", stored, **fields)], http)

    assert list(tmp_path.iterdir()) == []
