"""The seeded sandbox looks like μblog's IaC output (names from the naming contract, facts from the IaC contract)."""

from __future__ import annotations

import boto3

from ublog_ops import iac_contract as ic
from ublog_ops.naming import FAMILIES, PRE_UPDATE, SERVICES, split_image


def test_base_env_is_found_the_way_the_tool_finds_it(sandbox):
    names = sandbox.names
    ec2 = boto3.client("ec2")  # plain boto3 through AWS_ENDPOINT_URL: the fixture set the env vars
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:env", "Values": [names.base_env]}])["Vpcs"]
    assert len(vpcs) == 1
    attr = ec2.describe_vpc_attribute(VpcId=vpcs[0]["VpcId"], Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is True
    private = ec2.describe_subnets(
        Filters=[
            {"Name": "tag:env", "Values": [names.base_env]},
            {"Name": "tag:Name", "Values": [names.private_subnet_pattern]},
        ]
    )["Subnets"]
    assert sorted(s["SubnetId"] for s in private) == sorted(sandbox.seeded.private_subnets)
    assert len(private) == 2
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [names.ecs_security_group]}])
    assert [g["GroupId"] for g in groups["SecurityGroups"]] == [sandbox.seeded.ecs_security_group]

    db = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=names.rds_instance)["DBInstances"][0]
    assert db["Engine"] == "postgres"
    assert db["PubliclyAccessible"] is False
    secret = boto3.client("secretsmanager").describe_secret(SecretId=names.rds_secret)
    assert secret["ARN"] == sandbox.seeded.secret_arn

    table = boto3.client("dynamodb").describe_table(TableName=names.deploy_lock_table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "LockID", "AttributeType": "S"}]


def test_ecr_has_every_behaviour_tag_with_distinct_digests(sandbox):
    ecr = boto3.client("ecr")
    for kind in ("backend", "frontend"):
        images = ecr.describe_images(repositoryName=sandbox.names.ecr_repository(kind))["imageDetails"]
        by_tag = {tag: img["imageDigest"] for img in images for tag in img.get("imageTags", [])}
        for tag in ("v1.2.2", "v1.2.3", "v1.2.4", *sandbox.behaviour.pushed_tags()):
            assert tag in by_tag, (kind, tag)
        assert len(set(by_tag.values())) == len(by_tag)


def test_families_and_services_as_the_iac_defines_them(sandbox):
    names = sandbox.names
    ecs = boto3.client("ecs")
    for name, kind in FAMILIES.items():
        td = ecs.describe_task_definition(taskDefinition=names.family(name))["taskDefinition"]
        assert td["networkMode"] == "awsvpc"
        assert (int(td["cpu"]), int(td["memory"])) == ic.SIZES[name]
        main = next(c for c in td["containerDefinitions"] if c["name"] == names.container(name))
        assert main["essential"] is True
        assert tuple(main["command"]) == ic.COMMANDS[name]
        assert split_image(main["image"]) == (
            f"{sandbox.account}.dkr.ecr.{sandbox.region}.amazonaws.com/{names.ecr_repository(kind)}",
            "v1.2.2",
        )
        env = {e["name"]: e["value"] for e in main["environment"]}
        if kind == "backend":
            assert set(env) == set(ic.BACKEND_ENV_KEYS)
            assert env["POSTGRES_NAME"] == "alpha-db"
            assert main["secrets"] == [{"name": "POSTGRES_PASSWORD", "valueFrom": sandbox.seeded.secret_arn}]
        else:
            assert set(env) == set(ic.FRONTEND_ENV_KEYS)
        opts = main["logConfiguration"]["options"]
        assert main["logConfiguration"]["logDriver"] == "awslogs"
        assert (opts["awslogs-group"], opts["awslogs-stream-prefix"]) == (f"/ecs/alpha/{name}", name)
        for c in td["containerDefinitions"]:
            assert c.get("memoryReservation"), c["name"]  # moto's run_task needs it on every container
        sidecars = [c for c in td["containerDefinitions"] if not c.get("essential", True)]
        assert len(sidecars) == (1 if name == PRE_UPDATE else 0)

    services = ecs.describe_services(cluster=names.cluster, services=[names.service(s) for s in SERVICES])["services"]
    assert len(services) == 4
    for svc in services:
        assert svc["desiredCount"] == 1
        assert svc["runningCount"] == 1
        assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        net = svc["networkConfiguration"]["awsvpcConfiguration"]
        assert sorted(net["subnets"]) == sorted(sandbox.seeded.private_subnets)
        assert net["securityGroups"] == [sandbox.seeded.ecs_security_group]
        assert net["assignPublicIp"] == "DISABLED"
        assert [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"]
        assert svc["events"][0]["message"] == f"(service {svc['serviceName']}) has reached a steady state."
        tasks = ecs.list_tasks(cluster=names.cluster, serviceName=svc["serviceName"])["taskArns"]
        assert len(tasks) == 1
        described = ecs.describe_tasks(cluster=names.cluster, tasks=tasks)["tasks"][0]
        assert described["lastStatus"] == "RUNNING"
        assert described["taskDefinitionArn"] == svc["taskDefinition"]
        assert described["group"] == f"service:{svc['serviceName']}"

    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/alpha/")["logGroups"]
    assert sorted(g["logGroupName"] for g in groups) == sorted(names.log_group(n) for n in FAMILIES)
    assert {g["retentionInDays"] for g in groups} == {ic.LOG_RETENTION_DAYS}


def test_fast_reset_recovers_after_mock_aws_wiped_the_process_state(sandbox):
    """moto's mock_aws (used by other tests in the same process) resets every moto backend; the next fast reset
    must notice that the base network is gone and seed it again."""
    from moto import mock_aws

    with mock_aws():
        boto3.client("ec2").describe_vpcs()
    sandbox.reset(full=False)
    ecs = boto3.client("ecs")
    assert len(ecs.list_services(cluster="alpha-cluster")["serviceArns"]) == 4
    subnets = boto3.client("ec2").describe_subnets(SubnetIds=list(sandbox.seeded.private_subnets))["Subnets"]
    assert len(subnets) == 2
