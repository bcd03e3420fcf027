"""fabfuel's ecs-deploy, a real third-party client, works against the sandbox unchanged: it completes a healthy
deploy and detects the crash-looping one.

ecs-deploy ``-t TAG`` rewrites the tag of every container image of the service's task definition, registers the
revision, updates the service, then polls DescribeServices / ListTasks(serviceName) / DescribeTasks each second:
done when exactly one deployment remains and the service's task definition runs the desired count; failed when
the PRIMARY deployment is FAILED or a service event since the deployment started says "unable" (ECS's "is unable
to consistently start tasks successfully"). The sandbox emits that event, as ECS does, before the circuit breaker
trips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from ublog_ops.naming import split_image

ECS_CLI = Path(sys.executable).with_name("ecs")

pytestmark = pytest.mark.skipif(not ECS_CLI.exists(), reason="ecs-deploy is not installed (pip install -e '.[dev]')")


def ecs_deploy(sandbox, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(sandbox.env_vars())
    return subprocess.run(
        [str(ECS_CLI), "deploy", *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def image_tag(ecs, task_definition: str) -> str | None:
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return split_image(td["containerDefinitions"][0]["image"])[1]


def test_ecs_deploy_completes_a_healthy_deploy(sandbox):
    ecs = boto3.client("ecs")
    before = ecs.describe_services(cluster="alpha-cluster", services=["alpha-gunicorn"])["services"][0]
    proc = ecs_deploy(sandbox, "alpha-cluster", "alpha-gunicorn", "-t", "v1.2.3", "--timeout", "180")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Deployment successful" in proc.stdout
    svc = ecs.describe_services(cluster="alpha-cluster", services=["alpha-gunicorn"])["services"][0]
    assert svc["taskDefinition"] != before["taskDefinition"]
    assert image_tag(ecs, svc["taskDefinition"]) == "v1.2.3"
    assert [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"]
    # ecs-deploy deregistered the previous revision after success.
    old = ecs.describe_task_definition(taskDefinition=before["taskDefinition"])["taskDefinition"]
    assert old["status"] == "INACTIVE"


# ecs-deploy must poll (every 1 s, in a fresh process on a busy machine) while the failing deployment is still
# PRIMARY: at this scale and threshold the "unable" event comes ~5 s before the circuit breaker trips.
@pytest.mark.parametrize("sandbox_time_scale", [0.05], indirect=True)
@pytest.mark.parametrize(
    "sandbox_behaviour", [{"tags": {"v1.3.0-crashloop": {"circuit_breaker": {"failure_threshold": 5}}}}], indirect=True
)
def test_ecs_deploy_detects_the_crash_loop(sandbox):
    ecs = boto3.client("ecs")
    before = ecs.describe_services(cluster="alpha-cluster", services=["alpha-gunicorn"])["services"][0]
    proc = ecs_deploy(sandbox, "alpha-cluster", "alpha-gunicorn", "-t", "v1.3.0-crashloop", "--timeout", "180")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "Deployment failed" in output
    assert "is unable to consistently start tasks successfully" in output
    assert "due to timeout" not in output  # detected, not timed out
    # It noticed while the bad revision was still crash-looping (ECS's own rollback is tested in test_services).
    svc = ecs.describe_services(cluster="alpha-cluster", services=["alpha-gunicorn"])["services"][0]
    assert svc["taskDefinition"] != before["taskDefinition"]
    assert image_tag(ecs, svc["taskDefinition"]) == "v1.3.0-crashloop"
    assert svc["deployments"][0]["failedTasks"] >= 2
