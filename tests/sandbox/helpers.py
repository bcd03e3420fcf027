"""Small helpers for the sandbox tests: register a revision on another image tag, run the pre-update family,
poll until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from ublog_ops.naming import PRE_UPDATE, split_image

TD_KEYS = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn", "taskRoleArn")


def register_tag(ecs: Any, family: str, container: str, tag: str) -> str:
    """Register a new revision of ``family`` whose ``container`` runs ``tag`` (or ``@sha256:…``); return its ARN."""
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    defs = td["containerDefinitions"]
    for c in defs:
        if c["name"] == container:  # "@sha256:..." pins a digest instead of a tag
            c["image"] = f"{split_image(c['image'])[0]}{tag if tag.startswith('@') else ':' + tag}"
    return ecs.register_task_definition(containerDefinitions=defs, **{k: td[k] for k in TD_KEYS})["taskDefinition"][
        "taskDefinitionArn"
    ]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(interval)


def service(ecs: Any, cluster: str, name: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def messages(svc: dict[str, Any]) -> list[str]:
    """Service event messages, oldest first."""
    return [e["message"] for e in reversed(svc["events"])]


FAST_WAIT = {"Delay": 0.1, "MaxAttempts": 600}


def run(sandbox, tag: str) -> dict:
    """RunTask of a new pre-update revision on ``tag`` (as the pipeline runs it); the started task."""
    ecs = boto3.client("ecs")
    names = sandbox.names
    arn = register_tag(ecs, names.family(PRE_UPDATE), names.container(PRE_UPDATE), tag)
    network = {
        "awsvpcConfiguration": {
            "subnets": list(sandbox.seeded.private_subnets),
            "securityGroups": [sandbox.seeded.ecs_security_group],
            "assignPublicIp": "DISABLED",
        }
    }
    out = ecs.run_task(cluster=names.cluster, taskDefinition=arn, launchType="FARGATE", networkConfiguration=network)
    assert out["failures"] == []
    return out["tasks"][0]


def finish(sandbox, task: dict) -> dict:
    """Wait with botocore's tasks_stopped waiter; the described task."""
    ecs = boto3.client("ecs")
    ecs.get_waiter("tasks_stopped").wait(cluster=sandbox.names.cluster, tasks=[task["taskArn"]], WaiterConfig=FAST_WAIT)
    return ecs.describe_tasks(cluster=sandbox.names.cluster, tasks=[task["taskArn"]])["tasks"][0]
