"""The one-off task runner, with real boto3 against the sandbox (task behaviour chosen by the image tag)."""

from __future__ import annotations

import time

import pytest

from ublog_ops.aws import Aws
from ublog_ops.errors import Interrupted, RefusedError
from ublog_ops.naming import FAMILIES, PRE_UPDATE, repository_name
from ublog_ops.oneoff import main_container, network_from_service, run_one_off

HANGS = "v9.9.9-hangs"
REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "runtimePlatform",
)


@pytest.fixture
def sandbox_behaviour():
    # Shipped tags plus one whose pre-update task runs (nearly) forever: for the timeout and Ctrl-C tests.
    return {"tags": {HANGS: {"one_off": {"run_seconds": 100000}}}}


def retag(sb, name: str, tag: str) -> str:
    """Register a new revision of family ``name`` whose app container runs ``tag`` (test setup only)."""
    ecs = sb.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=sb.names.family(name))["taskDefinition"]
    kwargs = {k: td[k] for k in REGISTER_KEYS if td.get(k)}
    kind = FAMILIES[name]
    for c in kwargs["containerDefinitions"]:
        if repository_name(c["image"]) == sb.names.ecr_repository(kind):
            c["image"] = sb.image(kind, tag)
    return ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]


def network(sb) -> dict:
    svc = sb.client("ecs").describe_services(cluster=sb.names.cluster, services=[sb.names.service("gunicorn")])
    return network_from_service(svc["services"][0])


def expected_lines(sb, tag: str, key: str = "logs") -> list[str]:
    """What the sandbox's container writes: the behaviour file's lines with its placeholders filled."""
    lines = sb.behaviour.one_off(tag)[key]
    return [line.format_map(_Keep(env=sb.names.env, tag=tag, db_name=sb.names.db_name)) for line in lines]


class _Keep(dict):
    def __missing__(self, key):  # placeholders we do not fill (db_host, image…) are compared by prefix below
        return "{" + key + "}"


def same_lines(got: list[str], want: list[str]) -> bool:
    return len(got) == len(want) and all(
        g == w or ("{" in w and g.startswith(w.split("{", 1)[0])) for g, w in zip(got, want, strict=True)
    )


def cloudwatch_lines(sb, task_id: str, container: str) -> list[str]:
    """Independent ground truth: the task's stream read directly from CloudWatch Logs."""
    logs = sb.client("logs")
    group = sb.names.log_group(PRE_UPDATE)
    stream = f"{sb.names.log_stream_prefix(PRE_UPDATE)}/{container}/{task_id}"
    out, token = [], None
    while True:
        kw = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            kw["nextToken"] = token
        page = logs.get_log_events(**kw)
        out += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]


def run(sb, tag: str, **kw):
    arn = retag(sb, PRE_UPDATE, tag)
    seen: list[str] = []
    kw.setdefault("on_line", seen.append)
    kw.setdefault("timeout", 120)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("drain_grace", 0.2)
    aws = Aws()
    result = run_one_off(aws, sb.names.cluster, arn, network(sb), **kw)
    return aws, result, seen


def test_healthy_pre_update_succeeds_with_every_line(sandbox):
    aws, result, seen = run(sandbox, "v1.2.3", command=["python", "manage.py", "pre_update"])
    assert result.succeeded, result.failure
    assert result.failure is None
    assert result.exit_codes == {"otel-collector": 0, "backend_update": 0}
    assert result.essential == {"otel-collector": False, "backend_update": True}
    assert result.container == "backend_update"
    assert seen == result.lines
    assert same_lines(result.lines_of("backend_update"), expected_lines(sandbox, "v1.2.3"))
    assert result.lines_of("backend_update") == cloudwatch_lines(sandbox, result.task_id, "backend_update")
    # Sidecar lines are shown too, marked with their container.
    assert "[otel-collector] Everything is ready. Begin running and processing data." in result.lines
    counts = aws.call_counts()
    assert counts["ecs:RunTask"] == 1
    assert counts["ecs:StopTask"] == 0
    task = sandbox.client("ecs").describe_tasks(cluster=sandbox.names.cluster, tasks=[result.task_arn])["tasks"][0]
    assert task["startedBy"] == "ublog-ops"
    assert task["overrides"]["containerOverrides"][0]["command"] == ["python", "manage.py", "pre_update"]


def test_migration_exits_3_fails_with_its_exit_code_and_all_its_lines(sandbox):
    tag = "v1.3.0-migrate-fails"
    _, result, seen = run(sandbox, tag)
    assert not result.succeeded
    assert result.exit_codes["backend_update"] == 3
    assert result.exit_code == 3
    assert result.failure == "container backend_update exited 3"
    assert result.stop_code == "EssentialContainerExited"
    mine = result.lines_of("backend_update")
    assert same_lines(mine, expected_lines(sandbox, tag))
    assert mine == cloudwatch_lines(sandbox, result.task_id, "backend_update")
    assert mine[-1] == "Pre-update failed: migrate exited with status 3"
    assert [line for line in seen if not line.startswith("[")] == mine  # every line reached on_line, in order


def test_task_that_never_started_fails_with_its_stopped_reason(sandbox):
    _, result, seen = run(sandbox, "v1.3.0-pull-error")
    assert not result.succeeded
    assert result.stop_code == "TaskFailedToStart"
    assert result.exit_codes == {"otel-collector": None, "backend_update": None}
    assert result.failure.startswith("task failed to start: CannotPullContainerError")
    assert result.stopped_reason in result.failure
    assert seen == []


def test_sidecar_exit_code_does_not_decide(sandbox):
    tag = "v1.3.0-sidecar-fails"
    _, result, _ = run(sandbox, tag)
    assert result.exit_codes == {"otel-collector": 1, "backend_update": 0}
    assert result.succeeded, result.failure
    assert result.exit_code == 0
    assert [line[len("[otel-collector] ") :] for line in result.lines if line.startswith("[otel-collector]")] == (
        expected_lines(sandbox, tag, "sidecar_logs")
    )


def test_ctrl_c_stops_the_task_and_waits_for_stopped(sandbox):
    ecs = sandbox.client("ecs")
    pressed = []

    def sleep(seconds):
        time.sleep(min(seconds, 0.05))
        running = ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops", desiredStatus="RUNNING")[
            "taskArns"
        ]
        tasks = ecs.describe_tasks(cluster=sandbox.names.cluster, tasks=running)["tasks"] if running else []
        if not pressed and any(t["lastStatus"] == "RUNNING" for t in tasks):
            pressed.append(True)
            raise KeyboardInterrupt  # the user presses Ctrl-C while the task runs

    with pytest.raises(Interrupted) as caught:
        run(sandbox, HANGS, sleep=sleep)
    assert pressed
    result = caught.value.result
    assert result.interrupted and not result.succeeded
    assert "was stopped" in caught.value.message
    task = sandbox.client("ecs").describe_tasks(cluster=sandbox.names.cluster, tasks=[result.task_arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"  # waited for, not just asked
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "ublog-ops: interrupted by the user (Ctrl-C)"
    assert result.stopped_reason == task["stoppedReason"]


def test_ctrl_c_during_run_task_still_stops_the_task(sandbox):
    """Ctrl-C lands while RunTask is in flight: the task exists but its ARN never reached us."""
    arn = retag(sandbox, PRE_UPDATE, HANGS)
    aws = Aws()

    def ctrl_c_after_the_request(**_):
        raise KeyboardInterrupt

    aws.client("ecs").meta.events.register("after-call.ecs.RunTask", ctrl_c_after_the_request)
    with pytest.raises(Interrupted) as caught:
        run_one_off(
            aws, sandbox.names.cluster, arn, network(sandbox), timeout=60, on_line=lambda _: None, poll_interval=0.05
        )
    ecs = sandbox.client("ecs")
    arns = ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops", desiredStatus="STOPPED")["taskArns"]
    assert len(arns) == 1
    assert ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops")["taskArns"] == []  # none running
    task = ecs.describe_tasks(cluster=sandbox.names.cluster, tasks=arns)["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == "ublog-ops: interrupted by the user (Ctrl-C)"
    assert caught.value.result.task_arn == task["taskArn"]
    assert "was stopped" in caught.value.message


def test_task_stopped_by_someone_else_is_a_failure_even_if_it_exits_cleanly(sandbox):
    ecs = sandbox.client("ecs")
    done = []

    def sleep(seconds):
        time.sleep(min(seconds, 0.05))
        running = ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops")["taskArns"]
        tasks = ecs.describe_tasks(cluster=sandbox.names.cluster, tasks=running)["tasks"] if running else []
        for t in tasks:
            if not done and t["lastStatus"] == "RUNNING":
                ecs.stop_task(cluster=sandbox.names.cluster, task=t["taskArn"], reason="ops: stopped by hand")
                done.append(t["taskArn"])

    aws, result, _ = run(sandbox, HANGS, sleep=sleep)
    assert done
    assert not result.succeeded
    assert result.stop_code == "UserInitiated"
    assert result.failure == "task was stopped before it finished: ops: stopped by hand"
    assert aws.call_counts()["ecs:StopTask"] == 0  # we did not stop it


def test_an_error_while_watching_stops_the_task_before_it_propagates(sandbox):
    def broken_output(line):
        raise BrokenPipeError("output closed")  # e.g. `inv app.update | head` after head exits

    with pytest.raises(BrokenPipeError):
        run(sandbox, HANGS, on_line=broken_output)
    ecs = sandbox.client("ecs")
    arns = ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops", desiredStatus="STOPPED")["taskArns"]
    task = ecs.describe_tasks(cluster=sandbox.names.cluster, tasks=arns)["tasks"][0]
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "ublog-ops: aborted: output closed"


def test_timeout_stops_the_task_with_a_reason(sandbox):
    aws, result, _ = run(sandbox, HANGS, timeout=1.0)
    assert result.timed_out and not result.succeeded
    assert result.failure == "timed out after 1 s; the task was stopped"
    assert aws.call_counts()["ecs:StopTask"] == 1
    task = sandbox.client("ecs").describe_tasks(cluster=sandbox.names.cluster, tasks=[result.task_arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "ublog-ops: timed out after 1 s"


def test_lines_ingested_after_the_task_stopped_are_not_lost(sandbox):
    """CloudWatch can show a line after ECS reports STOPPED (ingestion delay): the drain still gets it."""
    ecs, logs = sandbox.client("ecs"), sandbox.client("logs")
    late = "late line: ingested after STOPPED"
    state = {"written": False}

    def sleep(seconds):
        time.sleep(min(seconds, 0.05))
        if state["written"]:
            return
        arns = ecs.list_tasks(cluster=sandbox.names.cluster, startedBy="ublog-ops", desiredStatus="STOPPED")["taskArns"]
        if arns:  # the task has stopped; deliver one more line to its stream, as a slow log pipeline would
            task_id = arns[0].rsplit("/", 1)[-1]
            stream = f"{sandbox.names.log_stream_prefix(PRE_UPDATE)}/backend_update/{task_id}"
            logs.put_log_events(
                logGroupName=sandbox.names.log_group(PRE_UPDATE),
                logStreamName=stream,
                logEvents=[{"timestamp": int(time.time() * 1000) + 1000, "message": late}],
            )
            state["written"] = True

    _, result, _ = run(sandbox, "v1.2.3", sleep=sleep, drain_grace=0.5)
    assert state["written"]
    assert result.lines_of("backend_update")[-1] == late
    assert result.lines.count(late) == 1


def test_definition_given_saves_the_describe_call(sandbox):
    ecs = sandbox.client("ecs")
    arn = retag(sandbox, PRE_UPDATE, "v1.2.3")
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    aws = Aws()
    result = run_one_off(
        aws,
        sandbox.names.cluster,
        arn,
        network(sandbox),
        timeout=60,
        on_line=lambda _: None,
        definition=definition,
        poll_interval=0.05,
        drain_grace=0,
    )
    assert result.succeeded, result.failure
    assert aws.call_counts()["ecs:DescribeTaskDefinition"] == 0


def test_run_task_rejected_is_a_failed_result_not_a_crash(sandbox):
    arn = sandbox.seeded.task_definitions[PRE_UPDATE]
    result = run_one_off(Aws(), "no-such-cluster", arn, network(sandbox), timeout=60, on_line=lambda _: None)
    assert not result.succeeded
    assert result.task_arn is None
    assert result.failure.startswith("RunTask failed")


def test_network_from_service_copies_awsvpc_settings():
    svc = {
        "serviceName": "alpha-gunicorn",
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": ["s-1", "s-2"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}
        },
    }
    assert network_from_service(svc) == {
        "awsvpcConfiguration": {"subnets": ["s-1", "s-2"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}
    }
    with pytest.raises(RefusedError, match="alpha-gunicorn"):
        network_from_service({"serviceName": "alpha-gunicorn"})


def test_main_container_prefers_the_family_name_then_the_first_essential():
    cdefs = [{"name": "xray", "essential": False}, {"name": "web"}, {"name": "backend_update"}]
    assert main_container(cdefs, "alpha-backend_update") == "backend_update"
    assert main_container(cdefs, "alpha-other") == "web"
