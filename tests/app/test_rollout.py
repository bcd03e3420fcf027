"""Service rollout waiter and rollback, with real boto3 against the sandbox (behaviour chosen by image tag)."""

from __future__ import annotations

import random
import time

import pytest

from ublog_ops.errors import ExitStatus, RolloutFailed
from ublog_ops.naming import FAMILIES, SERVICES, repository_name
from ublog_ops.rollout import (
    ABORTED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    ROLLED_BACK_BY_ECS,
    STALLED,
    TIMEOUT,
    ServiceTarget,
    revision,
    rollback,
    update_services,
    wait_for_services,
)

REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "runtimePlatform",
)
FAST = {"timeout": 120, "stall_timeout": 60, "poll_interval": 0.1}


def retag(sb, name: str, tag: str) -> tuple[str, str]:
    """Register a new revision of family ``name`` running ``tag``: (new ARN, current ARN). Test setup only."""
    ecs = sb.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=sb.names.family(name))["taskDefinition"]
    kwargs = {k: td[k] for k in REGISTER_KEYS if td.get(k)}
    kind = FAMILIES[name]
    for c in kwargs["containerDefinitions"]:
        if repository_name(c["image"]) == sb.names.ecr_repository(kind):
            c["image"] = sb.image(kind, tag)
    new = ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]
    return new, td["taskDefinitionArn"]


def targets_for(sb, tags: dict[str, str], desired: int | None = 1) -> list[ServiceTarget]:
    out = []
    for name, tag in tags.items():
        new, old = retag(sb, name, tag)
        out.append(ServiceTarget(sb.names.service(name), new, desired, old))
    return out


def describe(sb, services):
    resp = sb.client("ecs").describe_services(cluster=sb.names.cluster, services=list(services))
    return {s["serviceName"]: s for s in resp["services"]}


class Recorder:
    """on_poll sink plus a record of every DescribeServices request (observed through botocore's event hooks)."""

    def __init__(self, ecs):
        self.polls: list[list] = []
        self.describe_batches: list[list[str]] = []
        ecs.meta.events.register("provide-client-params.ecs.DescribeServices", self._seen)

    def _seen(self, params, **_):
        self.describe_batches.append(list(params["services"]))

    def __call__(self, statuses):
        self.polls.append(statuses)

    def history(self, service):
        return [next(s for s in poll if s.service == service) for poll in self.polls]


def test_healthy_update_of_all_services_completes_in_one_loop(sandbox):
    tags = {name: "v1.2.3" for name in SERVICES}
    targets = targets_for(sandbox, tags)
    ecs = sandbox.client("ecs")
    assert update_services(ecs, sandbox.names.cluster, targets) == [t.service for t in targets]
    rec = Recorder(ecs)
    outcomes = wait_for_services(ecs, sandbox.names.cluster, targets, on_poll=rec, **FAST)

    assert list(outcomes) == [t.service for t in targets]
    assert all(o.ok and o.state == COMPLETED for o in outcomes.values()), outcomes
    # The first poll saw the new deployments still in progress: nobody was declared done on the old revision.
    assert all(s.state == IN_PROGRESS for s in rec.polls[0])
    # ONE loop: one batched DescribeServices call per poll, for all services at once.
    assert len(rec.describe_batches) == len(rec.polls)
    assert sorted(rec.describe_batches[0]) == sorted(t.service for t in targets)
    live = describe(sandbox, [t.service for t in targets])
    for t in targets:
        svc = live[t.service]
        assert svc["taskDefinition"] == t.task_definition
        assert len(svc["deployments"]) == 1
        assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
        assert svc["runningCount"] == svc["desiredCount"] == 1
        o = outcomes[t.service]
        assert o.primary_task_definition == revision(t.task_definition)
        assert any("has reached a steady state" in e for e in o.new_events)
        # Each event reaches the display exactly once: the per-poll "new" events add up to the whole list.
        assert [e for st in rec.history(t.service) for e in st.new_events] == o.new_events
        assert o.started_at <= o.finished_at
        assert o.stopped_reasons == []


def test_desired_count_is_set_when_given_and_left_alone_when_none(sandbox):
    ecs = sandbox.client("ecs")
    [gunicorn] = targets_for(sandbox, {"gunicorn": "v1.2.4"}, desired=2)
    [beat] = targets_for(sandbox, {"beat": "v1.2.4"}, desired=None)
    update_services(ecs, sandbox.names.cluster, [gunicorn, beat])
    outcomes = wait_for_services(ecs, sandbox.names.cluster, [gunicorn, beat], **FAST)
    assert all(o.ok for o in outcomes.values()), outcomes
    live = describe(sandbox, [gunicorn.service, beat.service])
    assert live[gunicorn.service]["desiredCount"] == live[gunicorn.service]["runningCount"] == 2
    assert live[beat.service]["desiredCount"] == 1


def test_describe_services_is_batched_by_ten(sandbox):
    ecs = sandbox.client("ecs")
    base = describe(sandbox, [sandbox.names.service("gunicorn")])[sandbox.names.service("gunicorn")]
    names = []
    for i in range(11):
        name = f"alpha-extra-{i}"
        ecs.create_service(
            cluster=sandbox.names.cluster,
            serviceName=name,
            taskDefinition=base["taskDefinition"],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=base["networkConfiguration"],
            deploymentConfiguration=base["deploymentConfiguration"],
        )
        names.append(name)
    new, old = retag(sandbox, "gunicorn", "v1.2.3")
    targets = [ServiceTarget(sandbox.names.service("gunicorn"), new, 1, old)] + [
        ServiceTarget(n, new, 1, old) for n in names
    ]
    update_services(ecs, sandbox.names.cluster, targets)
    rec = Recorder(ecs)
    outcomes = wait_for_services(ecs, sandbox.names.cluster, targets, on_poll=rec, **FAST)
    assert all(o.ok for o in outcomes.values()), {k: (o.state, o.reason) for k, o in outcomes.items()}
    assert max(len(b) for b in rec.describe_batches) == 10
    assert sorted(rec.describe_batches[0] + rec.describe_batches[1]) == sorted(t.service for t in targets)


def test_crash_loop_rolled_back_by_the_circuit_breaker_is_detected_within_one_poll(sandbox):
    tags = {"gunicorn": "v1.3.0-crashloop", "default": "v1.3.0-crashloop", "beat": "v1.3.0-crashloop"}
    tags["web-ui"] = "v1.2.3"
    targets = targets_for(sandbox, tags)
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, targets)
    rec = Recorder(ecs)
    outcomes = wait_for_services(ecs, sandbox.names.cluster, targets, on_poll=rec, **FAST)

    backend = [t for t in targets if not t.service.endswith("web-ui")]
    # fail_fast: the first service(s) whose breaker tripped end the wait; the others are ABORTED at that poll.
    assert {outcomes[t.service].state for t in backend} <= {ROLLED_BACK_BY_ECS, ABORTED}
    failed = [t for t in backend if outcomes[t.service].state == ROLLED_BACK_BY_ECS]
    assert failed
    for t in failed:
        o = outcomes[t.service]
        assert not o.ok
        assert "circuit breaker" in o.reason
        assert revision(t.previous_task_definition) in o.reason
        # Within one poll: no poll that already showed the failure (or another primary) was reported in progress.
        history = rec.history(t.service)
        for seen in history:
            if seen.state == IN_PROGRESS:
                assert seen.rollout_state != "FAILED" and seen.primary == revision(t.task_definition)
        assert history[-1].state == ROLLED_BACK_BY_ECS
        assert o.stopped_reasons, "the reasons of the crashed tasks must be collected"
        assert all("exit 1" in r for r in o.stopped_reasons)
        assert any("deployment failed" in e for e in o.last_events)
    assert outcomes[sandbox.names.service("web-ui")].state in (COMPLETED, ABORTED)


def test_primary_deployment_no_longer_ours_means_ecs_rolled_back(sandbox):
    [target] = targets_for(sandbox, {"default": "v1.3.0-crashloop"})
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, [target])
    first = wait_for_services(ecs, sandbox.names.cluster, [target], **FAST)[target.service]
    assert first.state == ROLLED_BACK_BY_ECS
    # Let ECS's rollback deployment take over (test-side wait, bounded), then look again.
    deadline = time.monotonic() + 60
    while describe(sandbox, [target.service])[target.service]["taskDefinition"] != target.previous_task_definition:
        assert time.monotonic() < deadline, "the sandbox never rolled back"
        time.sleep(0.1)
    rec = Recorder(ecs)
    again = wait_for_services(ecs, sandbox.names.cluster, [target], on_poll=rec, visibility_grace=0, **FAST)
    again = again[target.service]
    assert len(rec.polls) == 1  # known on the first poll (no grace for a deployment that is not visible yet)
    assert again.state == ROLLED_BACK_BY_ECS
    assert again.reason.endswith(f"ECS rolled back to {revision(target.previous_task_definition)}")
    assert "circuit breaker" in again.reason  # the cause is named even once the failed deployment is gone
    assert again.primary_task_definition == revision(target.previous_task_definition)


def test_a_deployment_that_never_appears_is_not_called_a_rollback(sandbox):
    # No UpdateService was made: the service keeps its old primary and shows no trace of ours or of a rollback.
    [target] = targets_for(sandbox, {"gunicorn": "v1.2.3"})
    rec = Recorder(sandbox.client("ecs"))
    o = wait_for_services(
        sandbox.client("ecs"), sandbox.names.cluster, [target], on_poll=rec, visibility_grace=0.5, **FAST
    )[target.service]
    assert len(rec.polls) > 1  # the verdict waited for the eventual-consistency grace
    assert all(poll[0].state == IN_PROGRESS for poll in rec.polls[:-1])
    assert o.state == FAILED
    assert o.reason == f"no deployment of {revision(target.task_definition)} appeared; the service runs " + (
        revision(target.previous_task_definition)
    )


def test_failed_rollout_without_ecs_rollback_is_failed(sandbox):
    ecs = sandbox.client("ecs")
    [target] = targets_for(sandbox, {"beat": "v1.3.0-crashloop"})
    ecs.update_service(
        cluster=sandbox.names.cluster,
        service=target.service,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    update_services(ecs, sandbox.names.cluster, [target])
    o = wait_for_services(ecs, sandbox.names.cluster, [target], **FAST)[target.service]
    assert o.state == FAILED, (o.state, o.reason)
    assert "circuit breaker" in o.reason
    assert "rolling back" not in o.reason


def test_stall_fails_after_stall_timeout_with_events(sandbox):
    [target] = targets_for(sandbox, {"gunicorn": "v1.3.0-stall"})
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, [target])
    o = wait_for_services(ecs, sandbox.names.cluster, [target], timeout=120, stall_timeout=1.5, poll_interval=0.1)[
        target.service
    ]
    assert o.state == STALLED and not o.ok
    assert o.reason.startswith("no progress for")
    assert "pending 1" in o.reason
    assert o.new_events and any("has started 1 tasks" in e for e in o.new_events)
    assert o.last_events


def test_timeout_is_a_real_deadline(sandbox):
    [target] = targets_for(sandbox, {"web-ui": "v1.3.0-slow"})
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, [target])
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    o = wait_for_services(
        ecs,
        sandbox.names.cluster,
        [target],
        timeout=20,
        stall_timeout=1000,
        poll_interval=6,
        clock=lambda: now[0],
        sleep=sleep,
        rng=random.Random(7),
    )[target.service]
    assert o.state == TIMEOUT
    assert o.reason.startswith("not done after 20 s")
    assert sum(slept) == pytest.approx(20)  # never sleeps past the deadline, and polls once more at it
    assert all(s <= 6 * 1.2 for s in slept)
    assert len({round(s, 6) for s in slept[:-1]}) > 1  # jittered


def test_missing_service_fails_and_fail_fast_aborts_the_rest(sandbox):
    [good] = targets_for(sandbox, {"gunicorn": "v1.3.0-slow"})
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, [good])
    ghost = ServiceTarget("alpha-ghost", good.task_definition, 1, good.previous_task_definition)
    outcomes = wait_for_services(ecs, sandbox.names.cluster, [good, ghost], **FAST)
    assert outcomes["alpha-ghost"].state == FAILED
    assert "MISSING" in outcomes["alpha-ghost"].reason
    assert outcomes[good.service].state == ABORTED


def test_update_services_failure_says_which_services_were_updated(sandbox):
    targets = targets_for(sandbox, {"gunicorn": "v1.2.3", "default": "v1.2.3"})
    ghost = ServiceTarget("alpha-ghost", targets[0].task_definition, 1, targets[0].previous_task_definition)
    with pytest.raises(RolloutFailed) as caught:
        update_services(sandbox.client("ecs"), sandbox.names.cluster, [targets[0], ghost, targets[1]])
    assert caught.value.updated == [targets[0].service]
    assert caught.value.status == ExitStatus.NOT_ROLLED_BACK
    assert "alpha-ghost" in caught.value.message


def test_rollback_brings_every_service_back_and_deregisters_nothing(sandbox):
    tags = {name: "v1.3.0-crashloop" for name in SERVICES}
    tags["web-ui"] = "v1.2.3"
    targets = targets_for(sandbox, tags)
    ecs = sandbox.client("ecs")
    update_services(ecs, sandbox.names.cluster, targets)
    outcomes = wait_for_services(ecs, sandbox.names.cluster, targets, fail_fast=False, **FAST)
    assert outcomes[sandbox.names.service("web-ui")].state == COMPLETED
    assert outcomes[sandbox.names.service("gunicorn")].state == ROLLED_BACK_BY_ECS

    back = rollback(ecs, sandbox.names.cluster, targets, outcomes, **FAST)
    for t in targets:  # the rollback's wait shows its own events, not again those of the failed rollout
        before = {e for e in outcomes[t.service].new_events if "(task " in e}
        assert before.isdisjoint(back[t.service].new_events)
    assert all(o.ok for o in back.values()), {k: (o.state, o.reason) for k, o in back.items()}
    live = describe(sandbox, [t.service for t in targets])
    for t in targets:
        svc = live[t.service]
        assert svc["taskDefinition"] == t.previous_task_definition
        assert [d["taskDefinition"] for d in svc["deployments"]] == [t.previous_task_definition]
        assert svc["runningCount"] == svc["desiredCount"]
        family = t.task_definition.rsplit("/", 1)[-1].split(":")[0]
        active = ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]
        assert t.task_definition in active and t.previous_task_definition in active
        assert ecs.list_task_definitions(familyPrefix=family, status="INACTIVE")["taskDefinitionArns"] == []
