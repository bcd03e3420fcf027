"""One-off task runner: real boto3 against moto (always-exit-0 tasks) and, where present, the sandbox."""

from __future__ import annotations

import time

import pytest
from moto import mock_aws

from ublog_ops.aws import Aws
from ublog_ops.errors import RefusedError
from ublog_ops.oneoff import main_container, network_from_service, run_one_off

REGION = "eu-west-1"
GROUP = "/ecs/alpha/backend_update"


def _log_conf(name):
    return {
        "logDriver": "awslogs",
        "options": {"awslogs-group": GROUP, "awslogs-stream-prefix": name, "awslogs-region": REGION},
    }


@pytest.fixture
def moto_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        aws = Aws(region=REGION)
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName="dev-ecs-sg", Description="ecs", VpcId=vpc)["GroupId"]
        ecs = aws.client("ecs")
        ecs.create_cluster(clusterName="alpha-cluster")
        arn = ecs.register_task_definition(
            family="alpha-backend_update",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "backend_update",
                    "image": "123.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1.2.3",
                    "memoryReservation": 256,
                    "essential": True,
                    "command": ["python", "manage.py", "pre_update"],
                    "logConfiguration": _log_conf("backend_update"),
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        aws.client("logs").create_log_group(logGroupName=GROUP)
        network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
        yield aws, arn, network


def test_success_streams_every_line_live_and_after_stop(moto_env):
    aws, arn, network = moto_env
    logs = aws.client("logs")
    written: list[str] = []
    seen: list[str] = []
    task_ids: list[str] = []

    def write(message):
        stream = f"backend_update/backend_update/{task_ids[0]}"
        if not written:
            logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
        )
        written.append(message)

    now = [0.0]

    def fake_sleep(seconds):
        # The "container" writes a line whenever we wait, 8 lines in all: some while the task runs, the rest after
        # moto reported it STOPPED (late-ingested lines the drain must still pick up).
        now[0] += max(seconds, 0.5)
        if not task_ids:
            task_ids.append(aws.client("ecs").list_tasks(cluster="alpha-cluster")["taskArns"][0].rsplit("/", 1)[-1])
        if len(written) < 8:
            write(f"line {len(written)}")

    result = run_one_off(
        aws,
        "alpha-cluster",
        arn,
        network,
        command=["python", "manage.py", "migrate"],
        timeout=600,
        on_line=seen.append,
        poll_interval=1,
        drain_grace=3,
        clock=lambda: now[0],
        sleep=fake_sleep,
    )
    assert result.succeeded, result.failure
    assert result.failure is None
    assert result.exit_codes == {"backend_update": 0}
    assert result.essential == {"backend_update": True}
    assert result.task_id == task_ids[0]
    assert len(written) == 8
    assert seen == written  # every line, once, in order, also the ones written after STOPPED was seen
    assert result.lines == written
    counts = aws.call_counts()
    assert counts["ecs:RunTask"] == 1
    assert counts["ecs:DescribeTaskDefinition"] == 1


def test_definition_given_saves_the_describe_call(moto_env):
    aws, arn, network = moto_env
    definition = aws.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    before = aws.call_counts()["ecs:DescribeTaskDefinition"]
    result = run_one_off(
        aws,
        "alpha-cluster",
        arn,
        network,
        timeout=600,
        on_line=lambda _: None,
        definition=definition,
        poll_interval=0,
        drain_grace=0,
        sleep=lambda _: None,
    )
    assert result.succeeded
    assert aws.call_counts()["ecs:DescribeTaskDefinition"] == before


def test_run_task_rejected_is_a_failed_result_not_a_crash(moto_env):
    aws, arn, network = moto_env
    result = run_one_off(aws, "no-such-cluster", arn, network, timeout=60, on_line=lambda _: None, sleep=lambda _: None)
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
