"""Seed a fresh sandbox like μblog's IaC output: the base env (VPC, subnets, security groups, RDS and its password
secret, assets bucket, deploy-lock table) and the app env (ECR images, cluster, log groups, roles, the five
task-definition families and the four services on the start tag).

Everything goes through the public AWS API (plain boto3 clients pointed at the sandbox), names only from
:class:`ublog_ops.naming.Names`, container facts only from :mod:`ublog_ops.iac_contract`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import iac_contract as ic
from ..naming import BACKEND, FAMILIES, FRONTEND, PRE_UPDATE, SERVICES, Names
from .behaviour import START_TAG, Behaviour

ACCOUNT = "123456789012"
#: The non-essential sidecar of the one-off family: an agent that is stopped when the essential container exits.
SIDECAR = "otel-collector"
SIDECAR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"
RDS_USER = "ublog"
RDS_PASSWORD = "sandbox-not-a-secret"


@dataclass(frozen=True)
class Seeded:
    """What seeding created (ids the model and the tests need)."""

    vpc_id: str
    private_subnets: tuple[str, ...]
    ecs_security_group: str
    rds_address: str
    secret_arn: str
    task_definitions: dict[str, str]
    images: dict[str, dict[str, str]]  # kind -> tag -> digest


def image_manifest(repository: str, tag: str) -> str:
    """A distinct, valid-looking Docker v2 manifest per (repository, tag), hence a distinct digest per tag."""
    layer = hashlib.sha256(f"{repository}:{tag}:layer".encode()).hexdigest()
    config = hashlib.sha256(f"{repository}:{tag}:config".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": f"sha256:{config}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654,
                    "digest": f"sha256:{layer}",
                }
            ],
        },
        sort_keys=True,
    )


def _tags(d: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in d.items()]


def seed_base(client: Callable[[str], Any], names: Names, region: str) -> dict[str, Any]:
    """The base stack: VPC (DNS hostnames on), public/private subnets, security groups, RDS + secret, bucket,
    deploy-lock table. Every resource carries the tag ``env={base_env}``."""
    return {**seed_base_infra(client, names, region), **seed_base_data(client, names)}


#: moto services :func:`seed_base_infra` writes (deploy code only reads them; the fast reset keeps them).
INFRA_SERVICES = ("ec2", "rds", "s3", "iam")


def seed_base_data(client: Callable[[str], Any], names: Names) -> dict[str, Any]:
    """The RDS password secret and the deploy-lock table (``LockID`` string hash key, like Terraform's)."""
    secrets = client("secretsmanager")
    secret_arn = secrets.create_secret(
        Name=names.rds_secret,
        SecretString=json.dumps({"username": RDS_USER, "password": RDS_PASSWORD}),
        Tags=_tags(names.base_tag),
    )["ARN"]
    client("dynamodb").create_table(
        TableName=names.deploy_lock_table,
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=_tags(names.base_tag),
    )
    return {"secret_arn": secret_arn}


def seed_base_infra(client: Callable[[str], Any], names: Names, region: str) -> dict[str, Any]:
    """VPC, subnets, security groups, the RDS instance and the assets bucket."""
    b = names.base_env
    tag = names.base_tag
    ec2 = client("ec2")
    vpc = ec2.create_vpc(
        CidrBlock=ic.VPC_CIDR,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags({**tag, "Name": f"{b}-vpc"})}],
    )["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    azs = [f"{region}a", f"{region}b"]
    private: list[str] = []
    for kind, cidr_base in (("public", 0), ("private", 2)):
        for n, az in enumerate(azs, 1):
            subnet = ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=f"10.0.{cidr_base + n}.0/24",
                AvailabilityZone=az,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": _tags({**tag, "Name": f"{b}-{kind}-{n}"})}],
            )["Subnet"]["SubnetId"]
            if kind == "private":
                private.append(subnet)

    def group(name: str, description: str) -> str:
        return ec2.create_security_group(
            GroupName=name,
            Description=description,
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags({**tag, "Name": name})}],
        )["GroupId"]

    alb_sg = group(f"{b}-alb-sg", "ALB: HTTP/HTTPS from anywhere")
    ecs_sg = group(names.ecs_security_group, "ECS tasks: from the ALB")
    rds_sg = group(f"{b}-rds-sg", "RDS: PostgreSQL from ECS tasks")
    redis_sg = group(f"{b}-redis-sg", "Redis from ECS tasks")
    for port in (80, 443):
        ec2.authorize_security_group_ingress(
            GroupId=alb_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
    for target, (lo, hi), source in (
        (ecs_sg, (0, 65535), alb_sg),
        (rds_sg, (5432, 5432), ecs_sg),
        (redis_sg, (6379, 6379), ecs_sg),
    ):
        ec2.authorize_security_group_ingress(
            GroupId=target,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": lo, "ToPort": hi, "UserIdGroupPairs": [{"GroupId": source}]}
            ],
        )

    rds = client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"{b}-rds-subnets",
        DBSubnetGroupDescription=f"{b} private subnets",
        SubnetIds=private,
        Tags=_tags(tag),
    )
    db = rds.create_db_instance(
        DBInstanceIdentifier=names.rds_instance,
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        EngineVersion="15.5",
        AllocatedStorage=20,
        MasterUsername=RDS_USER,
        MasterUserPassword=RDS_PASSWORD,
        DBSubnetGroupName=f"{b}-rds-subnets",
        VpcSecurityGroupIds=[rds_sg],
        StorageEncrypted=True,
        PubliclyAccessible=False,
        Tags=_tags(tag),
    )["DBInstance"]
    rds_address = (db.get("Endpoint") or {}).get(
        "Address"
    ) or f"{names.rds_instance}.sandbox.{region}.rds.amazonaws.com"

    client("s3").create_bucket(
        Bucket=ic.assets_bucket_name(names.prefix, b),
        **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )
    return {
        "vpc_id": vpc,
        "private_subnets": tuple(private),
        "ecs_security_group": ecs_sg,
        "rds_address": rds_address,
    }


def container_definitions(
    names: Names, name: str, image: str, region: str, secret_arn: str, rds_address: str, bucket: str, domain: str
) -> list[dict[str, Any]]:
    """Container definitions of one family as μblog's IaC writes them (plus the one-off family's sidecar)."""
    kind = FAMILIES[name]
    cpu, memory = ic.SIZES[name]
    del cpu
    if kind == BACKEND:
        values = {
            "DJANGO_SETTINGS_MODULE": ic.DJANGO_SETTINGS_MODULE,
            "FRONTEND_URL": f"https://{names.env}.{domain}",
            "POSTGRES_NAME": names.db_name,
            "POSTGRES_SERVICE_HOST": rds_address,
            "REDIS_SERVICE_HOST": f"{names.base_env}-redis.sandbox.cache.amazonaws.com",
            "S3_BUCKET_NAME": bucket,
        }
        environment = [{"name": k, "value": values[k]} for k in ic.BACKEND_ENV_KEYS]
        secrets = [{"name": k, "valueFrom": secret_arn} for k in ic.BACKEND_SECRET_KEYS]
    else:
        values = {"API_BASE_URL": f"https://{names.env}.{domain}/api", "NODE_ENV": "production"}
        environment = [{"name": k, "value": values[k]} for k in ic.FRONTEND_ENV_KEYS]
        secrets = []

    def awslogs(container: str) -> dict[str, Any]:
        del container
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": names.log_group(name),
                "awslogs-region": region,
                "awslogs-stream-prefix": names.log_stream_prefix(name),
            },
        }

    main: dict[str, Any] = {
        "name": names.container(name),
        "image": image,
        "essential": True,
        "command": list(ic.COMMANDS[name]),
        "memoryReservation": memory,
        "environment": environment,
        "logConfiguration": awslogs(names.container(name)),
    }
    if secrets:
        main["secrets"] = secrets
    if name in ic.PORTS:
        main["portMappings"] = [{"containerPort": ic.PORTS[name], "protocol": "tcp"}]
    if name != PRE_UPDATE:
        return [main]
    sidecar = {
        "name": SIDECAR,
        "image": SIDECAR_IMAGE,
        "essential": False,
        "command": ["--config=/etc/ecs/ecs-default-config.yaml"],
        "memoryReservation": 64,
        "logConfiguration": awslogs(SIDECAR),
    }
    # The sidecar comes FIRST, as agents often do: a client that reads containers[0] reads the wrong one.
    return [sidecar, main]


def seed_app(
    client: Callable[[str], Any],
    names: Names,
    region: str,
    behaviour: Behaviour,
    base: dict[str, Any],
    domain: str = "example.com",
    start_tag: str = START_TAG,
) -> Seeded:
    """The app stack on ``start_tag``: ECR images, cluster, roles, log groups, families, services."""
    ecr = client("ecr")
    images: dict[str, dict[str, str]] = {}
    for kind in (BACKEND, FRONTEND):
        repo = names.ecr_repository(kind)
        ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True})
        images[kind] = {}
        for tag in dict.fromkeys([start_tag, *behaviour.pushed_tags()]):
            out = ecr.put_image(repositoryName=repo, imageManifest=image_manifest(repo, tag), imageTag=tag)
            images[kind][tag] = out["image"]["imageId"]["imageDigest"]

    iam = client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    roles = {}
    for role in ("ecs-execution-role", "ecs-task-role"):
        try:
            roles[role] = iam.get_role(RoleName=f"{names.env}-{role}")["Role"]["Arn"]  # kept by a fast reset
        except iam.exceptions.NoSuchEntityException:
            roles[role] = iam.create_role(RoleName=f"{names.env}-{role}", AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    logs = client("logs")
    for name in FAMILIES:
        logs.create_log_group(logGroupName=names.log_group(name), tags={"env": names.env})
        logs.put_retention_policy(logGroupName=names.log_group(name), retentionInDays=ic.LOG_RETENTION_DAYS)

    ecs = client("ecs")
    ecs.create_cluster(
        clusterName=names.cluster,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
        tags=[{"key": "env", "value": names.env}],
    )
    bucket = ic.assets_bucket_name(names.prefix, names.base_env)
    task_definitions = {}
    for name, kind in FAMILIES.items():
        cpu, memory = ic.SIZES[name]
        image = names.image(kind, start_tag, ACCOUNT, region)
        td = ecs.register_task_definition(
            family=names.family(name),
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=str(cpu),
            memory=str(memory),
            executionRoleArn=roles["ecs-execution-role"],
            taskRoleArn=roles["ecs-task-role"],
            containerDefinitions=container_definitions(
                names, name, image, region, base["secret_arn"], base["rds_address"], bucket, domain
            ),
            tags=[{"key": "env", "value": names.env}],
        )["taskDefinition"]
        task_definitions[name] = td["taskDefinitionArn"]
    network = {
        "awsvpcConfiguration": {
            "subnets": list(base["private_subnets"]),
            "securityGroups": [base["ecs_security_group"]],
            "assignPublicIp": "DISABLED",
        }
    }
    for name in SERVICES:
        ecs.create_service(
            cluster=names.cluster,
            serviceName=names.service(name),
            taskDefinition=task_definitions[name],
            desiredCount=1,
            launchType="FARGATE",
            platformVersion="1.4.0",
            networkConfiguration=network,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
            propagateTags="SERVICE",
            tags=[{"key": "env", "value": names.env}],
        )
    return Seeded(
        vpc_id=base["vpc_id"],
        private_subnets=tuple(base["private_subnets"]),
        ecs_security_group=base["ecs_security_group"],
        rds_address=base["rds_address"],
        secret_arn=base["secret_arn"],
        task_definitions=task_definitions,
        images=images,
    )
