"""Service deployments in the sandbox through plain boto3: rolling update, events, service tasks, the circuit
breaker with and without rollback, slow and stalled rollouts, scaling, and what botocore's services_stable waiter
does in each case."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import WaiterError

from .helpers import messages, register_tag, service, wait_for

STABLE = {"Delay": 0.1, "MaxAttempts": 1200}


def deploy(sandbox, name: str, tag: str) -> tuple[str, dict]:
    """Register ``tag`` for service ``name`` and UpdateService to it; return (new td ARN, service before)."""
    ecs = boto3.client("ecs")
    n = sandbox.names
    before = service(ecs, n.cluster, n.service(name))
    arn = register_tag(ecs, n.family(name), n.container(name), tag)
    ecs.update_service(cluster=n.cluster, service=n.service(name), taskDefinition=arn)
    return arn, before


def wait_stable(sandbox, name: str) -> None:
    n = sandbox.names
    boto3.client("ecs").get_waiter("services_stable").wait(
        cluster=n.cluster, services=[n.service(name)], WaiterConfig=STABLE
    )


def test_healthy_rolling_update(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, before = deploy(sandbox, "gunicorn", "v1.2.3")
    old_task = ecs.list_tasks(cluster=n.cluster, serviceName=n.service("gunicorn"))["taskArns"]

    svc = service(ecs, n.cluster, n.service("gunicorn"))
    assert svc["taskDefinition"] == arn
    assert [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in svc["deployments"]] == [
        ("PRIMARY", arn, "IN_PROGRESS"),
        ("ACTIVE", before["taskDefinition"], "COMPLETED"),
    ]
    new_id = svc["deployments"][0]["id"]
    assert svc["deployments"][0]["rolloutStateReason"] == f"ECS deployment {new_id} in progress."

    # While it rolls, the service's tasks are listed by serviceName (and only its tasks).
    tasks = wait_for(
        "a task of the new revision",
        lambda: [
            t
            for t in ecs.describe_tasks(
                cluster=n.cluster,
                tasks=ecs.list_tasks(cluster=n.cluster, serviceName=n.service("gunicorn"))["taskArns"],
            )["tasks"]
            if t["taskDefinitionArn"] == arn
        ],
    )
    assert tasks[0]["group"] == f"service:{n.service('gunicorn')}"
    assert tasks[0]["startedBy"] == new_id
    everything = ecs.list_tasks(cluster=n.cluster)["taskArns"]
    assert len(everything) > len(ecs.list_tasks(cluster=n.cluster, serviceName=n.service("gunicorn"))["taskArns"])

    wait_stable(sandbox, "gunicorn")  # botocore's waiter completes on a healthy deploy
    svc = service(ecs, n.cluster, n.service("gunicorn"))
    assert [(d["id"], d["rolloutState"], d["runningCount"]) for d in svc["deployments"]] == [(new_id, "COMPLETED", 1)]
    assert svc["deployments"][0]["rolloutStateReason"] == f"ECS deployment {new_id} completed."
    assert (svc["runningCount"], svc["pendingCount"], svc["desiredCount"]) == (1, 0, 1)
    new_tasks = ecs.list_tasks(cluster=n.cluster, serviceName=n.service("gunicorn"))["taskArns"]
    assert len(new_tasks) == 1
    assert new_tasks != old_task
    old = ecs.describe_tasks(cluster=n.cluster, tasks=old_task)["tasks"][0]
    assert old["lastStatus"] == "STOPPED"
    assert old["stopCode"] == "ServiceSchedulerInitiated"
    assert old["stoppedReason"] == f"Scaling activity initiated by (deployment {new_id})"

    new_task_id = tasks[0]["taskArn"].rsplit("/", 1)[-1]
    old_task_id = old_task[0].rsplit("/", 1)[-1]
    events = messages(svc)
    expected = [
        f"(service alpha-gunicorn) has started 1 tasks: (task {new_task_id}).",
        f"(service alpha-gunicorn) has stopped 1 running tasks: (task {old_task_id}).",
        f"(service alpha-gunicorn) (deployment {new_id}) deployment completed.",
        "(service alpha-gunicorn) has reached a steady state.",
    ]
    assert events[-4:] == expected
    # The new task wrote its startup lines to its stream.
    logs = boto3.client("logs").get_log_events(
        logGroupName=n.log_group("gunicorn"), logStreamName=n.log_stream("gunicorn", new_task_id), startFromHead=True
    )
    assert "[INFO] Listening at: http://0.0.0.0:8000 (1)" in [e["message"] for e in logs["events"]]


@pytest.mark.parametrize(
    "sandbox_behaviour",
    [{"tags": {"v1.3.0-crashloop": {"circuit_breaker": {"rollback_delay_seconds": 100}}}}],
    indirect=True,
)
def test_crash_loop_fails_and_the_circuit_breaker_rolls_back(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, before = deploy(sandbox, "gunicorn", "v1.3.0-crashloop")
    original = before["deployments"][0]["id"]
    failing = service(ecs, n.cluster, n.service("gunicorn"))["deployments"][0]["id"]

    failed = wait_for(
        "the deployment to fail",
        lambda: next(
            (
                d
                for d in service(ecs, n.cluster, n.service("gunicorn"))["deployments"]
                if d["id"] == failing and d["rolloutState"] == "FAILED"
            ),
            None,
        ),
    )
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] == 3  # ECS's threshold for desired count 1

    wait_stable(sandbox, "gunicorn")
    svc = service(ecs, n.cluster, n.service("gunicorn"))
    assert svc["taskDefinition"] == before["taskDefinition"]  # rolled back
    [final] = svc["deployments"]
    assert final["taskDefinition"] == before["taskDefinition"]
    assert final["rolloutState"] == "COMPLETED"
    assert final["id"] not in (failing, original)  # the rollback is a new deployment
    events = messages(svc)
    i_unable = events.index(
        "(service alpha-gunicorn) is unable to consistently start tasks successfully. For more information, see the "
        "Troubleshooting section of the Amazon ECS Developer Guide."
    )
    i_failed = events.index(
        f"(service alpha-gunicorn) (deployment {failing}) deployment failed: tasks failed to start."
    )
    i_back = events.index(f"(service alpha-gunicorn) rolling back to deployment {original}.")
    assert i_unable < i_failed < i_back < events.index("(service alpha-gunicorn) has reached a steady state.", i_back)

    stopped = ecs.list_tasks(cluster=n.cluster, serviceName=n.service("gunicorn"), desiredStatus="STOPPED")["taskArns"]
    crashed = [
        t for t in ecs.describe_tasks(cluster=n.cluster, tasks=stopped)["tasks"] if t["taskDefinitionArn"] == arn
    ]
    assert len(crashed) == 3
    for t in crashed:
        assert t["stopCode"] == "EssentialContainerExited"
        assert t["stoppedReason"] == "Essential container in task exited"
        assert t["containers"][0]["exitCode"] == 1
    crash_log = boto3.client("logs").get_log_events(
        logGroupName=n.log_group("gunicorn"),
        logStreamName=n.log_stream("gunicorn", crashed[0]["taskArn"].rsplit("/", 1)[-1]),
        startFromHead=True,
    )
    assert any("ImproperlyConfigured" in e["message"] for e in crash_log["events"])


@pytest.mark.parametrize(
    "sandbox_behaviour", [{"tags": {"v1.3.0-crashloop": {"circuit_breaker": {"failure_threshold": 6}}}}], indirect=True
)
def test_services_stable_waits_through_a_crash_loop_then_reports_the_rollback_as_stable(sandbox):
    """What botocore's waiter does: it does not succeed while the bad revision crash-loops, and it does succeed
    once ECS has rolled back — a "stable" service that does not run the release. Never trust it alone."""
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, before = deploy(sandbox, "gunicorn", "v1.3.0-crashloop")
    wait_for(
        "a first failed task", lambda: service(ecs, n.cluster, n.service("gunicorn"))["deployments"][0]["failedTasks"]
    )
    with pytest.raises(WaiterError, match="Max attempts exceeded"):
        ecs.get_waiter("services_stable").wait(
            cluster=n.cluster, services=[n.service("gunicorn")], WaiterConfig={"Delay": 0.1, "MaxAttempts": 5}
        )
    svc = service(ecs, n.cluster, n.service("gunicorn"))
    assert (svc["deployments"][0]["taskDefinition"], svc["deployments"][0]["rolloutState"]) == (arn, "IN_PROGRESS")
    assert not any("rolling back" in m for m in messages(svc))  # the waiter ran during the crash loop

    wait_stable(sandbox, "gunicorn")  # returns without error...
    svc = service(ecs, n.cluster, n.service("gunicorn"))
    assert svc["taskDefinition"] != arn  # ...although the release is not running
    assert svc["taskDefinition"] == before["taskDefinition"]
    assert any("rolling back to deployment" in m for m in messages(svc))


@pytest.mark.parametrize("tag", ["v1.3.0-pull-error"])
def test_pull_error_in_a_service_is_rolled_back(sandbox, tag):
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, before = deploy(sandbox, "web-ui", tag)
    wait_for(
        "the rollback", lambda: any("rolling back" in m for m in messages(service(ecs, n.cluster, "alpha-web-ui")))
    )
    wait_stable(sandbox, "web-ui")
    assert service(ecs, n.cluster, "alpha-web-ui")["taskDefinition"] == before["taskDefinition"]
    stopped = ecs.list_tasks(cluster=n.cluster, serviceName="alpha-web-ui", desiredStatus="STOPPED")["taskArns"]
    failed = [t for t in ecs.describe_tasks(cluster=n.cluster, tasks=stopped)["tasks"] if t["taskDefinitionArn"] == arn]
    assert failed
    assert {t["stopCode"] for t in failed} == {"TaskFailedToStart"}
    assert all(t["stoppedReason"].startswith("CannotPullContainerError") for t in failed)
    assert all("exitCode" not in c for t in failed for c in t["containers"])


def test_circuit_breaker_without_rollback_leaves_the_failed_deployment(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    ecs.update_service(
        cluster=n.cluster,
        service="alpha-default",
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    arn, _ = deploy(sandbox, "default", "v1.3.0-crashloop")
    failed = wait_for(
        "the deployment to fail",
        lambda: service(ecs, n.cluster, "alpha-default")["deployments"][0]["rolloutState"] == "FAILED",
    )
    assert failed
    svc = service(ecs, n.cluster, "alpha-default")
    assert svc["taskDefinition"] == arn
    assert [(d["status"], d["rolloutState"]) for d in svc["deployments"]] == [
        ("PRIMARY", "FAILED"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert svc["deployments"][1]["runningCount"] == 1  # the old revision keeps serving
    assert not any("rolling back" in m for m in messages(svc))


@pytest.mark.parametrize(
    "sandbox_behaviour", [{"tags": {"v1.3.0-slow": {"service": {"healthy_seconds": 150}}}}], indirect=True
)
def test_slow_rollout_runs_old_and_new_until_the_new_one_is_healthy(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, _ = deploy(sandbox, "beat", "v1.3.0-slow")
    # The new task runs, but is not yet healthy: both revisions run, the rollout is still in progress.
    wait_for(
        "old and new running together",
        lambda: (
            [(d["runningCount"], d["rolloutState"]) for d in service(ecs, n.cluster, "alpha-beat")["deployments"]]
            == [(1, "IN_PROGRESS"), (1, "COMPLETED")]
        ),
    )
    assert service(ecs, n.cluster, "alpha-beat")["runningCount"] == 2
    wait_stable(sandbox, "beat")
    svc = service(ecs, n.cluster, "alpha-beat")
    assert [(d["taskDefinition"], d["rolloutState"]) for d in svc["deployments"]] == [(arn, "COMPLETED")]


def test_stall_keeps_new_tasks_pending_without_failing(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    arn, _ = deploy(sandbox, "gunicorn", "v1.3.0-stall")
    wait_for("a pending task", lambda: service(ecs, n.cluster, "alpha-gunicorn")["deployments"][0]["pendingCount"] == 1)
    time.sleep(2)  # 100 sandbox seconds: more than twice what a healthy rollout takes
    svc = service(ecs, n.cluster, "alpha-gunicorn")
    primary = svc["deployments"][0]
    assert (primary["taskDefinition"], primary["rolloutState"]) == (arn, "IN_PROGRESS")
    assert (primary["pendingCount"], primary["runningCount"], primary["failedTasks"]) == (1, 0, 0)
    assert svc["deployments"][1]["runningCount"] == 1
    assert not any("unable" in m or "failed" in m for m in messages(svc))
    pending = ecs.describe_tasks(
        cluster=n.cluster, tasks=ecs.list_tasks(cluster=n.cluster, serviceName="alpha-gunicorn")["taskArns"]
    )["tasks"]
    assert sorted(t["lastStatus"] for t in pending) == ["PENDING", "RUNNING"]


def test_scaling_changes_counts_without_a_new_deployment(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    deployment = service(ecs, n.cluster, "alpha-default")["deployments"][0]["id"]
    ecs.update_service(cluster=n.cluster, service="alpha-default", desiredCount=3)
    wait_stable(sandbox, "default")
    svc = service(ecs, n.cluster, "alpha-default")
    assert [d["id"] for d in svc["deployments"]] == [deployment]
    assert (svc["desiredCount"], svc["runningCount"]) == (3, 3)
    assert len(ecs.list_tasks(cluster=n.cluster, serviceName="alpha-default")["taskArns"]) == 3
    # services_stable only compares counts; the steady-state event follows once the new tasks are healthy.
    events = wait_for(
        "the steady-state event",
        lambda: (
            (m := messages(service(ecs, n.cluster, "alpha-default")))[-1].endswith("has reached a steady state.") and m
        ),
    )
    assert events[-2].startswith("(service alpha-default) has started 2 tasks: (task ")

    ecs.update_service(cluster=n.cluster, service="alpha-default", desiredCount=1)
    wait_for("scale-in", lambda: len(ecs.list_tasks(cluster=n.cluster, serviceName="alpha-default")["taskArns"]) == 1)
    wait_stable(sandbox, "default")
    svc = service(ecs, n.cluster, "alpha-default")
    assert svc["runningCount"] == 1
    assert any(m.startswith("(service alpha-default) has stopped 2 running tasks") for m in messages(svc))


def test_stopped_service_task_is_replaced(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    [first] = ecs.list_tasks(cluster=n.cluster, serviceName="alpha-web-ui")["taskArns"]
    ecs.stop_task(cluster=n.cluster, task=first, reason="debugging")
    replacement = wait_for(
        "a replacement task",
        lambda: [a for a in ecs.list_tasks(cluster=n.cluster, serviceName="alpha-web-ui")["taskArns"] if a != first],
    )
    wait_stable(sandbox, "web-ui")
    stopped = ecs.describe_tasks(cluster=n.cluster, tasks=[first])["tasks"][0]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "debugging")
    running = ecs.describe_tasks(cluster=n.cluster, tasks=replacement)["tasks"][0]
    assert running["lastStatus"] == "RUNNING"


def test_force_new_deployment_redeploys_the_same_revision(sandbox):
    ecs = boto3.client("ecs")
    n = sandbox.names
    before = service(ecs, n.cluster, "alpha-beat")
    ecs.update_service(cluster=n.cluster, service="alpha-beat", forceNewDeployment=True)
    svc = service(ecs, n.cluster, "alpha-beat")
    assert len(svc["deployments"]) == 2
    wait_stable(sandbox, "beat")
    svc = service(ecs, n.cluster, "alpha-beat")
    assert svc["taskDefinition"] == before["taskDefinition"]
    assert svc["deployments"][0]["id"] != before["deployments"][0]["id"]
