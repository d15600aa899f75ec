"""The flow's side of the API: claim, logs, finish."""

from tests.api.conftest import submit


def _claim(api, headers, execution_id, flow_run_id):
    return api.post(f"/api/v1/worker/executions/{execution_id}/claim",
                    json={"flow_run_id": flow_run_id, "worker": "w1"}, headers=headers)


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
