"""``app.status`` data and text on the sandbox: revisions, tags, counts, rollout state, events, last pre-update."""

from __future__ import annotations

import json
import time

from ublog_ops.lock import DeployLock
from ublog_ops.status import app_status, render_status
from ublog_ops.taskdef import latest_definition, register, render

MIGRATE_FAILS = "v1.3.0-migrate-fails"


def test_status_of_a_fresh_env(alpha):
    data = app_status(alpha.aws, alpha.cfg)
    json.dumps(data)  # JSON-ready as is (--json)
    assert alpha.aws.mutating_calls() == []
    assert data["env"] == "alpha" and data["problems"] == []
    assert list(data["services"]) == ["gunicorn", "default", "beat", "web-ui"]
    for s in data["services"].values():
        assert s["status"] == "ACTIVE"
        assert s["revision"] == 1 and s["tags"] == ["v1.2.2"]
        assert (s["desired"], s["running"], s["pending"]) == (1, 1, 0)
        assert s["rollout_state"] == "COMPLETED"
        assert s["events"] and "steady state" in s["events"][0]["message"]
    assert data["services"]["web-ui"]["images"]["web-ui"]["repository"] == "ublog-frontend"
    assert data["pre_update"] is None and data["lock"] is None

    text = render_status(data)
    assert "alpha-gunicorn  alpha-gunicorn:1  tag v1.2.2  1/1 running, 0 pending  COMPLETED" in text
    assert "last pre-update task: none found" in text
    assert "deploy lock: free" in text


def _wait_stopped(ecs, task_arn, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        task = ecs.describe_tasks(cluster="alpha-cluster", tasks=[task_arn])["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_arn} did not stop")


def _run(alpha, tag, started_by):
    ecs = alpha.client("ecs")
    family = alpha.names.family("backend_update")
    arn = register(ecs, render(latest_definition(ecs, family), {"ublog-backend": alpha.sandbox.image("backend", tag)}))
    gunicorn = ecs.describe_services(cluster="alpha-cluster", services=["alpha-gunicorn"])["services"][0]
    task = ecs.run_task(
        cluster="alpha-cluster",
        taskDefinition=arn,
        launchType="FARGATE",
        startedBy=started_by,
        networkConfiguration=gunicorn["networkConfiguration"],
    )["tasks"][0]
    return _wait_stopped(ecs, task["taskArn"])


def test_last_pre_update_task_and_its_exit_code(alpha):
    ours = _run(alpha, MIGRATE_FAILS, "ublog-ops")
    _run(alpha, "v1.2.3", "someone-else")  # newer, but not started by ublog-ops

    data = app_status(alpha.aws, alpha.cfg)
    pre = data["pre_update"]
    assert pre["task_id"] == ours["taskArn"].rsplit("/", 1)[-1]
    assert pre["task_definition"] == "alpha-backend_update:2"
    assert pre["exit_code"] == 3 and pre["succeeded"] is False
    assert pre["containers"]["backend_update"]["exit_code"] == 3
    assert pre["containers"]["backend_update"]["tag"] == MIGRATE_FAILS
    assert pre["containers"]["otel-collector"]["essential"] is False
    text = render_status(data)
    assert f"last pre-update task: {pre['task_id']} (alpha-backend_update:2) FAILED, exit code 3" in text
    assert "otel-collector (non-essential): exit" in text


def test_successful_pre_update_is_shown_as_such(alpha):
    _run(alpha, "v1.2.3", "ublog-ops")
    pre = app_status(alpha.aws, alpha.cfg)["pre_update"]
    assert pre["succeeded"] is True and pre["exit_code"] == 0


def test_rollout_in_progress_shows_both_deployments(alpha):
    ecs = alpha.client("ecs")
    stall = {"ublog-backend": alpha.sandbox.image("backend", "v1.3.0-stall")}
    arn = register(ecs, render(latest_definition(ecs, "alpha-default"), stall))
    ecs.update_service(cluster="alpha-cluster", service="alpha-default", taskDefinition=arn)

    data = app_status(alpha.aws, alpha.cfg)
    s = data["services"]["default"]
    assert s["task_definition"] == "alpha-default:2" and s["tags"] == ["v1.3.0-stall"]
    assert s["rollout_state"] == "IN_PROGRESS"
    old = [d for d in s["deployments"] if d["status"] != "PRIMARY"]
    assert [(d["task_definition"], d["tags"]) for d in old] == [("alpha-default:1", ["v1.2.2"])]
    assert "also ACTIVE alpha-default:1 (tag v1.2.2)" in render_status(data)
    assert data["services"]["gunicorn"]["rollout_state"] == "COMPLETED"


def test_lock_holder_and_missing_service_are_reported(alpha):
    DeployLock(alpha.client("dynamodb"), alpha.cfg.lock_table, "alpha", owner="ann@laptop").acquire()
    alpha.client("ecs").delete_service(cluster="alpha-cluster", service="alpha-beat", force=True)
    data = app_status(alpha.aws, alpha.cfg)
    assert data["lock"]["owner"] == "ann@laptop" and data["lock"]["expired"] is False
    text = render_status(data)
    assert "deploy lock: held by ann@laptop" in text
    beat = data["services"]["beat"]
    assert beat["status"] != "ACTIVE"
    assert "alpha-beat" in text


def test_status_of_an_env_without_cluster(alpha, make_cfg):
    data = app_status(alpha.aws, make_cfg(env="beta"))
    assert "cluster beta-cluster not found" in data["problems"]
    assert all(s["status"] == "MISSING" for s in data["services"].values())
    assert "! cluster beta-cluster not found" in render_status(data)
