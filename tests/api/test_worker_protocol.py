"""The flow's side of the API: claim, logs, finish."""

from tests.api.conftest import TEST_WORKER, submit


def _claim(api, headers, execution_id, flow_run_id, worker=TEST_WORKER):
    return api.post(f"/api/v1/worker/executions/{execution_id}/claim",
                    json={"flow_run_id": flow_run_id, "worker": worker}, headers=headers)


def test_an_execution_is_claimed_by_exactly_one_flow_run(api, alice, worker_headers):
    execution = submit(alice)
    first = _claim(api, worker_headers, execution["id"], "flow-run-1")
    assert first.status_code == 200
    job = first.json()
    assert job["command"] == ["python3", "-u", "/work/hello.py", "a"]
    assert job["env"] == {"MODE": "fast"}
    assert _claim(api, worker_headers, execution["id"], "flow-run-2").status_code == 409
    assert _claim(api, worker_headers, execution["id"], "flow-run-1").status_code == 200
    assert alice.get(f"/api/v1/executions/{execution['id']}").json()["status"] == "running"


def test_logs_keep_streams_apart_resume_from_a_cursor_and_ignore_resends(
        api, alice, worker_headers):
    execution = submit(alice)
    _claim(api, worker_headers, execution["id"], "fr")
    chunks = [{"seq": 0, "stream": "stdout", "data": "out1\n"},
              {"seq": 1, "stream": "stderr", "data": "err1\n"},
              {"seq": 2, "stream": "stdout", "data": "out2\n"}]
    url = f"/api/v1/worker/executions/{execution['id']}/logs"
    assert api.post(url, json={"chunks": chunks}, headers=worker_headers).status_code == 204
    assert api.post(url, json={"chunks": chunks[1:]}, headers=worker_headers).status_code == 204

    logs = f"/api/v1/executions/{execution['id']}/logs"
    everything = alice.get(logs).json()
    assert [c["data"] for c in everything["chunks"]] == ["out1\n", "err1\n", "out2\n"]
    stderr = alice.get(logs, params={"stream": "stderr"}).json()
    assert [c["data"] for c in stderr["chunks"]] == ["err1\n"]
    after_first = alice.get(logs, params={"after": 0}).json()
    assert [c["seq"] for c in after_first["chunks"]] == [1, 2]
    assert after_first["next_after"] == 2


def test_finish_records_the_outcome_once(api, alice, worker_headers):
    execution = submit(alice)
    _claim(api, worker_headers, execution["id"], "fr")
    url = f"/api/v1/worker/executions/{execution['id']}/finish"
    report = {"status": "failed", "exit_code": 3, "error": "ValueError: bad"}
    assert api.post(url, json=report, headers=worker_headers).status_code == 204
    assert api.post(url, json=report, headers=worker_headers).status_code == 204
    assert api.post(url, json={"status": "succeeded", "exit_code": 0},
                    headers=worker_headers).status_code == 409
    final = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert (final["status"], final["exit_code"], final["error"]) == ("failed", 3, "ValueError: bad")
    assert final["finished_at"] is not None and final["duration_seconds"] >= 0


def test_worker_endpoints_refuse_account_keys_and_wrong_tokens(api, alice):
    execution = submit(alice)
    for token in (alice.key, "wrong-token"):
        response = _claim(api, {"Authorization": f"Bearer {token}"}, execution["id"], "fr")
        assert response.status_code == 401


def test_the_control_plane_token_is_not_a_worker_token(api, alice, control_headers):
    """It issues workers' tokens; it cannot claim or report itself (it never is on a node)."""
    execution = submit(alice)
    assert _claim(api, control_headers, execution["id"], "fr").status_code == 401


def test_a_worker_token_is_no_control_plane_token(api, worker_headers):
    issued = api.post("/api/v1/control/worker-tokens", json={"worker": "node-evil"},
                      headers=worker_headers)
    assert issued.status_code == 401
    assert api.delete(f"/api/v1/control/worker-tokens/{TEST_WORKER}",
                      headers=worker_headers).status_code == 401


def test_a_node_reports_only_for_what_it_claimed(api, alice, worker_headers,
                                                 issue_worker_headers):
    """A compromised node's token cannot finish, log to, heartbeat, give back or upload for
    an execution another node runs, nor claim in another node's name."""
    other = issue_worker_headers("node-other")
    execution = submit(alice)
    assert _claim(api, other, execution["id"], "fr").status_code == 403  # as node-7
    assert _claim(api, worker_headers, execution["id"], "fr").status_code == 200
    base = f"/api/v1/worker/executions/{execution['id']}"
    attempts = [
        ("finish", {"status": "succeeded", "exit_code": 0, "attempt": 1}),
        ("logs", {"chunks": [{"seq": 0, "stream": "stdout", "data": "forged\n"}]}),
        ("heartbeat", {"attempt": 1}),
        ("give-back", {"attempt": 1, "reason": "forged"}),
        ("output-uploads", {"attempt": 1, "files": [
            {"path": "x.txt", "size": 1, "sha256": "0" * 64}]}),
    ]
    for path, body in attempts:
        response = api.post(f"{base}/{path}", json=body, headers=other)
        assert response.status_code == 403, (path, response.text)
        assert "not claimed by worker 'node-other'" in response.json()["message"]
    shown = alice.get(f"/api/v1/executions/{execution['id']}").json()
    assert shown["status"] == "running" and shown["attempt"] == 1
    assert alice.get(f"/api/v1/executions/{execution['id']}/logs").json()["chunks"] == []
    assert api.post(f"{base}/heartbeat", json={"attempt": 1},
                    headers=worker_headers).status_code == 204


def test_a_revoked_worker_token_answers_401_at_once(api, alice, control_headers,
                                                    issue_worker_headers):
    node = "node-going"
    first, second = issue_worker_headers(node), issue_worker_headers(node)
    execution = submit(alice)
    assert _claim(api, first, execution["id"], "fr", worker=node).status_code == 200
    revoked = api.delete(f"/api/v1/control/worker-tokens/{node}", headers=control_headers)
    assert revoked.json() == {"revoked": 2}
    for headers in (first, second):
        response = api.post(f"/api/v1/worker/executions/{execution['id']}/heartbeat",
                            json={"attempt": 1}, headers=headers)
        assert response.status_code == 401
        assert "revoked" in response.json()["message"]


def test_worker_tokens_are_stored_hashed(api, api_settings, issue_worker_headers):
    from sqlalchemy import create_engine, text
    token = issue_worker_headers("node-hashed")["Authorization"].removeprefix("Bearer ")
    assert token.startswith("wk_")
    with create_engine(api_settings.database_url).connect() as connection:
        rows = connection.execute(text(
            "SELECT token_hash, prefix FROM worker_tokens WHERE worker = 'node-hashed'")).all()
    assert len(rows) == 1 and token not in rows[0].token_hash and rows[0].prefix == token[:10]
