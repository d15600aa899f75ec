"""requirements.txt end to end: pip really installs wheels from a package index on
127.0.0.1 into a dependency layer on the worker's Docker engine; the layer is reused; an
identical run is served from the result cache."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.conftest import write_script

REPO = Path(__file__).resolve().parents[2]


def _new_package(package_index, version: str = "1.0") -> str:
    """A package no other test asked for, so its layer is new to the worker."""
    name = f"greet-{secrets.token_hex(4)}"
    package_index.add(name, version,
                      f"def hello(who):\n    return f'hello {{who}} from {name} {version}'\n")
    return name


def _script_importing(tmp_path: Path, package: str, package_index) -> None:
    port = package_index.url.split(":")[2].split("/")[0]
    write_script(tmp_path, "greet.py", (
        "import socket, sys\n"
        f"import {package.replace('-', '_')} as greeting\n"
        "print(greeting.hello(sys.argv[1]))\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "    print('the script reached the index')\n"
        "except OSError:\n"
        "    print('no network for the script')\n"
        "open('greeting.txt', 'w').write(greeting.hello(sys.argv[1]))\n"))


def _wheel_downloads(package_index, package: str) -> int:
    return sum(1 for path in package_index.requests
               if path.startswith("/packages/") and package.replace("-", "_") in path)


def test_requirements_are_installed_once_reused_then_an_identical_run_is_a_cache_hit(
        rgrid, tmp_path, package_index):
    package = _new_package(package_index)
    _script_importing(tmp_path, package, package_index)
    (tmp_path / "requirements.txt").write_text(f"{package}==1.0\n")

    first = rgrid("run", "greet.py", "ada")
    assert first.exit_code == 0, first.stderr
    assert f"hello ada from {package} 1.0" in first.stdout
    assert "no network for the script" in first.stdout
    assert "Installing dependencies (1 requirement)" in first.stderr
    assert f"Successfully installed {package}-1.0" in first.stderr
    assert _wheel_downloads(package_index, package) == 1
    first_id = rgrid("list", "--json").json()[0]["id"]
    assert rgrid("status", first_id, "--json").json()["dependency_cache"] == "miss"

    second = rgrid("run", "greet.py", "grace")
    assert second.exit_code == 0, second.stderr
    assert f"hello grace from {package} 1.0" in second.stdout
    assert "✓ Using cached dependencies" in second.stderr
    assert "Installing dependencies" not in second.stderr
    assert _wheel_downloads(package_index, package) == 1  # the index was not asked again
    second_id = rgrid("list", "--json").json()[0]["id"]
    assert rgrid("status", second_id, "--json").json()["dependency_cache"] == "hit"

    (tmp_path / "greeting.txt").unlink()
    third = rgrid("run", "greet.py", "grace")
    assert third.exit_code == 0, third.stderr
    assert f"✓ Cached result from {second_id}" in third.stderr
    assert "--no-cache to run again" in third.stderr
    assert f"hello grace from {package} 1.0" in third.stdout  # the run's output, replayed
    assert (tmp_path / "greeting.txt").read_text() == f"hello grace from {package} 1.0"
    third_json = rgrid("list", "--json").json()[0]
    assert third_json["cached_from"] == second_id and third_json["worker"] is None

    forced = rgrid("run", "greet.py", "grace", "--no-cache", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert forced.json()["cached_from"] is None
    assert forced.json()["dependency_cache"] == "hit"


def test_a_requirement_pip_cannot_satisfy_fails_with_pips_error(rgrid, tmp_path,
                                                                package_index):
    package = _new_package(package_index)
    _script_importing(tmp_path, package, package_index)
    (tmp_path / "requirements.txt").write_text(f"{package}==9.9\n")

    result = rgrid("run", "greet.py", "ada")

    assert result.exit_code == 1
    assert f"No matching distribution found for {package}==9.9" in result.stderr
    assert "(from versions: 1.0)" in result.stderr
    execution = rgrid("list", "--json").json()[0]
    assert execution["status"] == "failed"
    assert execution["error"].startswith("Installing the requirements failed:")
    assert "requirements.txt against the package index" in execution["error"]


def test_two_runs_needing_one_new_layer_at_once_build_it_once(rgrid, tmp_path, package_index):
    package = _new_package(package_index)
    _script_importing(tmp_path, package, package_index)
    (tmp_path / "requirements.txt").write_text(f"{package}==1.0\n")

    runs = [rgrid.start("run", "greet.py", who) for who in ("ada", "grace")]
    outcomes = [run.communicate(timeout=180) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outcomes
    stderrs = [stderr for _stdout, stderr in outcomes]
    assert sum("Installing dependencies" in stderr for stderr in stderrs) == 1, stderrs
    assert sum("✓ Using cached dependencies" in stderr for stderr in stderrs) == 1, stderrs
    assert _wheel_downloads(package_index, package) == 1


def test_cache_stats_count_this_accounts_hits_and_clear_makes_the_next_run_run(rgrid, tmp_path):
    write_script(tmp_path, "square.py", f"# {secrets.token_hex(4)}\nprint(7 * 7)\n")
    before = rgrid("cache", "stats", "--json").json()

    assert rgrid("run", "square.py").stdout == "49\n"
    assert "✓ Cached result" in rgrid("run", "square.py").stderr

    after = rgrid("cache", "stats", "--json").json()
    assert after["result"]["hits"] == before["result"]["hits"] + 1
    assert after["result"]["misses"] == before["result"]["misses"] + 1
    table = rgrid("cache", "stats")
    assert "dependency layer" in table.stdout and "result" in table.stdout

    cleared = rgrid("cache", "clear")
    assert cleared.exit_code == 0 and "Cleared" in cleared.stderr
    again = rgrid("run", "square.py")
    assert again.stdout == "49\n" and "Cached result" not in again.stderr


def test_the_readme_dependencies_example_runs_then_reuses_its_layer(rgrid, package_index):
    package_index.add_from_pypi("tabulate==0.9.0")
    example = REPO / "examples" / "deps" / "word_table.py"
    data = REPO / "examples" / "data"

    first = rgrid("run", str(example), str(data / "fox.txt"), "--no-cache")
    assert first.exit_code == 0, first.stderr
    assert "| fox    |       3 |" in first.stdout
    assert "words.md" in first.stderr
    second = rgrid("run", str(example), str(data / "rain.txt"), "--no-cache")
    assert second.exit_code == 0, second.stderr
    assert "✓ Using cached dependencies" in second.stderr
