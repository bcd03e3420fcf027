"""One-off tasks (RunTask) in the sandbox: lifecycle, exit codes per container, stopCode/stoppedReason, log lines
written while running, StopTask, pull errors — all through plain boto3."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import WaiterError

from ublog_ops.naming import PRE_UPDATE

from .helpers import finish, run, wait_for

LONG_RUN = {"tags": {"v1.3.0-long": {"one_off": {"run_seconds": 100000, "logs": ["migrating a big table..."]}}}}


def stream_lines(sandbox, task: dict, container: str) -> list[dict]:
    names = sandbox.names
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    return boto3.client("logs").get_log_events(
        logGroupName=names.log_group(PRE_UPDATE),
        logStreamName=names.log_stream(PRE_UPDATE, task_id, container),
        startFromHead=True,
    )["events"]


def by_name(task: dict) -> dict[str, dict]:
    return {c["name"]: c for c in task["containers"]}


def test_healthy_pre_update_runs_logs_and_exits_zero(sandbox):
    started = run(sandbox, "v1.2.3")
    assert started["lastStatus"] == "PROVISIONING"
    assert started["desiredStatus"] == "RUNNING"
    task = finish(sandbox, started)  # botocore's tasks_stopped waiter completes

    assert task["lastStatus"] == "STOPPED"
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    containers = by_name(task)
    assert containers["backend_update"]["exitCode"] == 0
    assert containers["otel-collector"]["exitCode"] == 0
    # The lifecycle happened in order (timestamps come from the model's clock).
    order = ["createdAt", "pullStartedAt", "startedAt", "executionStoppedAt", "stoppedAt"]
    stamps = [task[k] for k in order]
    assert stamps == sorted(stamps)

    lines = stream_lines(sandbox, task, "backend_update")
    text = [e["message"] for e in lines]
    assert any("Creating database alpha-db" in line for line in text)
    assert "Collecting static files..." in text
    assert "  Applying blog.0002_post_summary... OK" in text
    # Written while the task ran.
    start_ms, stop_ms = (int(task[k].timestamp() * 1000) for k in ("startedAt", "executionStoppedAt"))
    assert all(start_ms <= e["timestamp"] <= stop_ms for e in lines)
    # The sidecar writes to its own stream, not the main container's.
    assert stream_lines(sandbox, task, "otel-collector")
    assert not any("Begin running" in line for line in text)


def test_migration_failure_exits_3_with_its_log_lines(sandbox):
    task = finish(sandbox, run(sandbox, "v1.3.0-migrate-fails"))
    # The non-essential sidecar is listed first and exits 0: only the essential container's code decides.
    assert [c["name"] for c in task["containers"]] == ["otel-collector", "backend_update"]
    assert task["containers"][0]["exitCode"] == 0
    assert by_name(task)["backend_update"]["exitCode"] == 3
    assert task["stopCode"] == "EssentialContainerExited"
    text = [e["message"] for e in stream_lines(sandbox, task, "backend_update")]
    assert any("IntegrityError" in line for line in text)
    assert text[-1] == "Pre-update failed: migrate exited with status 3"


def test_sidecar_exit_code_differs_from_the_essential_one(sandbox):
    task = finish(sandbox, run(sandbox, "v1.3.0-sidecar-fails"))
    assert by_name(task)["backend_update"]["exitCode"] == 0
    assert by_name(task)["otel-collector"]["exitCode"] == 1


def test_pull_error_fails_to_start_without_exit_code(sandbox):
    task = finish(sandbox, run(sandbox, "v1.3.0-pull-error"))
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert "ublog-backend:v1.3.0-pull-error" in task["stoppedReason"]
    assert all("exitCode" not in c for c in task["containers"])
    assert by_name(task)["backend_update"]["reason"].startswith("CannotPullContainerError:")
    assert "startedAt" not in task
    with pytest.raises(boto3.client("logs").exceptions.ResourceNotFoundException):
        stream_lines(sandbox, task, "backend_update")


def test_image_missing_from_ecr_cannot_be_pulled(sandbox):
    task = finish(sandbox, run(sandbox, "v9.9.9"))
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert task["stoppedReason"].endswith("not found")


@pytest.mark.parametrize("sandbox_behaviour", [LONG_RUN], indirect=True)
def test_stop_task_stops_a_running_task(sandbox):
    ecs = boto3.client("ecs")
    cluster = sandbox.names.cluster
    started = run(sandbox, "v1.3.0-long")
    wait_for(
        "the task to run",
        lambda: ecs.describe_tasks(cluster=cluster, tasks=[started["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING",
    )
    # Log lines appear while it runs.
    wait_for("a log line", lambda: stream_lines(sandbox, started, "backend_update"))
    assert ecs.describe_tasks(cluster=cluster, tasks=[started["taskArn"]])["tasks"][0]["lastStatus"] == "RUNNING"
    listed = ecs.list_tasks(cluster=cluster, family=sandbox.names.family(PRE_UPDATE))["taskArns"]
    assert listed == [started["taskArn"]]

    stopping = ecs.stop_task(cluster=cluster, task=started["taskArn"], reason="pre-update timed out after 1800s")
    assert stopping["task"]["desiredStatus"] == "STOPPED"
    task = finish(sandbox, started)
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "pre-update timed out after 1800s"
    assert by_name(task)["backend_update"]["exitCode"] == 143  # SIGTERM
    # ListTasks lists only desiredStatus RUNNING by default, as ECS does.
    assert ecs.list_tasks(cluster=cluster, family=sandbox.names.family(PRE_UPDATE))["taskArns"] == []
    stopped = ecs.list_tasks(cluster=cluster, family=sandbox.names.family(PRE_UPDATE), desiredStatus="STOPPED")
    assert stopped["taskArns"] == [started["taskArn"]]


def test_unknown_task_is_missing_and_never_stopped(sandbox):
    ecs = boto3.client("ecs")
    cluster = sandbox.names.cluster
    out = ecs.describe_tasks(cluster=cluster, tasks=["0123456789abcdef0123456789abcdef"])
    assert out["tasks"] == []
    assert [f["reason"] for f in out["failures"]] == ["MISSING"]
    # tasks_stopped has no failure acceptor for MISSING: it must not succeed on an unknown task, so it times out.
    with pytest.raises(WaiterError, match="Max attempts exceeded"):
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=["0123456789abcdef0123456789abcdef"], WaiterConfig={"Delay": 0.1, "MaxAttempts": 3}
        )


def test_image_pinned_by_digest_behaves_like_its_tag(sandbox):
    digest = sandbox.seeded.images["backend"]["v1.3.0-migrate-fails"]
    task = finish(sandbox, run(sandbox, f"@{digest}"))
    main = by_name(task)["backend_update"]
    assert main["image"].endswith(f"ublog-backend@{digest}")
    assert main["imageDigest"] == digest
    assert main["exitCode"] == 3
