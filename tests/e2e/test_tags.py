"""Tags and the run record from the CLI, on the real stack: `rgrid run --metadata`,
`rgrid list --metadata` with other filters, `rgrid status --json` with everything."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from tests.conftest import write_script
from tests.helpers import Rgrid


def test_runs_are_tagged_found_by_tag_and_fully_recorded(rgrid: Rgrid, tmp_path: Path):
    experiment = f"exp-{secrets.token_hex(3)}"
    source = "import sys\nprint(open(sys.argv[1]).read())\nopen('out.txt', 'w').write('x')\n"
    write_script(tmp_path, "tagged.py", source)
    (tmp_path / "in.txt").write_text("data")
    ran = rgrid("run", "tagged.py", "in.txt", "--no-cache", "--metadata", f"exp={experiment}",
                "--metadata", "stage=first")
    assert ran.exit_code == 0, ran.stderr
    failed = rgrid("run", "tagged.py", "missing-file", "--no-cache",
                   "--metadata", f"exp={experiment}")
    assert failed.exit_code != 0

    both = rgrid("list", "--metadata", f"exp={experiment}", "--json").json()
    assert len(both) == 2
    only_first = rgrid("list", "--metadata", f"exp={experiment}", "--metadata", "stage=first",
                       "--status", "succeeded", "--since", "1h", "--json").json()
    assert [e["metadata"] for e in only_first] == [{"exp": experiment, "stage": "first"}]
    assert rgrid("list", "--metadata", f"exp={experiment}", "--until", "2000-01-01",
                 "--json").json() == []

    record = rgrid("status", only_first[0]["id"], "--json").json()
    assert record["script_sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert record["image_id"].startswith("sha256:")
    assert record["worker"] and record["flow_run_url"].endswith(record["flow_run_id"])
    assert [(a["path"], a["size"]) for a in record["inputs"]] == [("in.txt", 4)]
    assert [a["path"] for a in record["outputs"]] == ["out.txt"]
    assert all(a["id"] for a in record["inputs"] + record["outputs"])
    for field in ("created_at", "started_at", "finished_at", "duration_seconds",
                  "exit_code", "runtime", "image", "attempts", "retry_of"):
        assert field in record


def test_bad_tags_are_refused_before_anything_is_sent(rgrid: Rgrid, tmp_path: Path):
    write_script(tmp_path, "t.py", "print(1)\n")
    refused = rgrid("run", "t.py", "--metadata", "no-value")
    assert refused.exit_code != 0
    assert "--metadata key=value" in refused.stderr
    refused = rgrid("list", "--since", "yesterday")
    assert refused.exit_code != 0 and "Invalid --since" in refused.stderr


def test_a_batch_tags_every_item(rgrid: Rgrid, tmp_path: Path):
    sweep = f"sweep-{secrets.token_hex(3)}"
    write_script(tmp_path, "item.py", "import sys\nprint(sys.argv[1])\n")
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.csv").write_text(name)
    done = rgrid("run", "item.py", "--batch", "*.csv", "--metadata", f"sweep={sweep}")
    assert done.exit_code == 0, done.stderr
    items = rgrid("list", "--metadata", f"sweep={sweep}", "--json").json()
    assert len(items) == 3 and {e["batch_id"] for e in items} != {None}
    batch_id = items[0]["batch_id"]
    assert len(rgrid("list", "--batch", batch_id, "--limit", "2", "--json").json()) == 2
    paged = rgrid("list", "--batch", batch_id, "--limit", "2")
    assert "more with --limit or --all" in paged.stderr
    assert len(rgrid("list", "--batch", batch_id, "--all", "--json").json()) == 3
