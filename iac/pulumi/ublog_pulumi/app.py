"""The ``app`` stack of one μblog env (``alpha``…) on a base env (``dev``…).

Stack name = app env; config namespace ``ublog-app`` (see ``iac/pulumi/app/Pulumi.alpha.yaml``). The base stack's
outputs come through a StackReference ``{org}/ublog-base/{baseEnv}``; ``org`` is ``$UBLOG_PULUMI_ORG``, else the
config ``ublog-app:org``, else ``organization`` (the fixed org of Pulumi's self-managed backends).

The rule that matters most: re-deploying this stack never changes what runs. Services are created with desired
count 0 and image tag ``latest``; afterwards Pulumi ignores ``taskDefinition`` and ``desiredCount`` on them
(:func:`service_options`), so the App Update pipeline owns both. A re-deploy may register a new task-definition
revision (old revisions are kept: ``skip_destroy``), which the pipeline picks up on its next run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from . import ensure_repo_on_path

ensure_repo_on_path()

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402

from ublog_ops.iac_contract import (  # noqa: E402
    BACKEND_PATHS,
    BASE_OUTPUTS,
    COMMANDS,
    DJANGO_SETTINGS_MODULE,
    HEALTH_PATHS,
    LOG_RETENTION_DAYS,
    PORTS,
    SIZES,
    listener_priority,
    target_group_name,
)
from ublog_ops.naming import BACKEND, FAMILIES, FRONTEND, SERVICES  # noqa: E402

from .settings import AppSettings  # noqa: E402

IMAGE_TAG = "latest"
#: Service properties the App Update pipeline owns; Pulumi's names (the provider's camelCase input names).
REDEPLOY_KEEPS: tuple[str, ...] = ("taskDefinition", "desiredCount")


def service_options(depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
    """Options of every ECS service: the pipeline owns the running task definition and the desired count."""
    return pulumi.ResourceOptions(ignore_changes=list(REDEPLOY_KEEPS), depends_on=list(depends_on))


def _policy(*statements: dict) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _ecs_trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def build_app(s: AppSettings) -> dict[str, pulumi.Input]:
    """Declare every app resource; return the stack outputs."""
    env = s.env
    n = s.names
    tags = {"env": env, "base_env": s.base_env}

    base = pulumi.StackReference(s.base_stack_name)
    out = {key: base.require_output(key) for key in BASE_OUTPUTS}

    region = aws.get_region_output().region
    partition = aws.get_partition_output().partition
    repos = {kind: aws.ecr.get_repository_output(name=n.ecr_repository(kind)) for kind in (BACKEND, FRONTEND)}
    secret = aws.secretsmanager.get_secret_output(name=out["rds_password_secret_name"])
    bucket_arn = pulumi.Output.concat("arn:", partition, ":s3:::", out["assets_bucket_name"])

    # --- cluster ------------------------------------------------------------------------------------------
    cluster = aws.ecs.Cluster(n.cluster, name=n.cluster, tags=tags)
    capacity = aws.ecs.ClusterCapacityProviders(
        n.cluster,
        cluster_name=cluster.name,
        capacity_providers=["FARGATE", "FARGATE_SPOT"],
        default_capacity_provider_strategies=[{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
    )

    # --- logs -------------------------------------------------------------------------------------------
    log_groups = {
        name: aws.cloudwatch.LogGroup(
            n.log_group(name), name=n.log_group(name), retention_in_days=LOG_RETENTION_DAYS, tags=tags
        )
        for name in FAMILIES
    }

    # --- IAM: scoped to what the tasks need (no *:*) ------------------------------------------------------
    execution_role = aws.iam.Role(
        f"{env}-ecs-execution-role",
        name=f"{env}-ecs-execution-role",
        assume_role_policy=_ecs_trust_policy(),
        tags=tags,
    )
    aws.iam.RolePolicy(
        f"{env}-ecs-execution",
        role=execution_role.id,
        policy=_policy(
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                "Resource": [repo.arn for repo in repos.values()],
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [group.arn.apply(lambda arn: f"{arn}:*") for group in log_groups.values()],
            },
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret.arn},
        ),
    )
    task_role = aws.iam.Role(
        f"{env}-ecs-task-role", name=f"{env}-ecs-task-role", assume_role_policy=_ecs_trust_policy(), tags=tags
    )
    aws.iam.RolePolicy(
        f"{env}-ecs-task",
        role=task_role.id,
        policy=_policy(
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": pulumi.Output.concat(bucket_arn, "/*"),
            },
        ),
    )

    # --- task definitions -------------------------------------------------------------------------------
    backend_env = {
        "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS_MODULE,
        "FRONTEND_URL": f"https://{s.host}",
        "POSTGRES_NAME": n.db_name,
        "POSTGRES_SERVICE_HOST": out["rds_address"],
        "REDIS_SERVICE_HOST": out["redis_host"],
        "S3_BUCKET_NAME": out["assets_bucket_name"],
    }
    frontend_env = {"API_BASE_URL": f"https://{s.host}/api", "NODE_ENV": "production"}
    # The secret holds JSON (username, password, host, port, engine): take its "password" key.
    backend_secrets = {"POSTGRES_PASSWORD": secret.arn.apply(lambda arn: f"{arn}:password::")}

    task_definitions: dict[str, aws.ecs.TaskDefinition] = {}
    for name, image in FAMILIES.items():
        cpu, memory = SIZES[name]
        container = {
            "name": n.container(name),
            "image": pulumi.Output.concat(repos[image].repository_url, ":", IMAGE_TAG),
            "essential": True,
            "command": list(COMMANDS[name]),
            "environment": [
                {"name": key, "value": value}
                for key, value in sorted((backend_env if image == BACKEND else frontend_env).items())
            ],
            "secrets": [
                {"name": key, "valueFrom": value}
                for key, value in sorted((backend_secrets if image == BACKEND else {}).items())
            ],
            "portMappings": ([{"containerPort": PORTS[name], "protocol": "tcp"}] if name in PORTS else []),
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_groups[name].name,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": n.log_stream_prefix(name),
                },
            },
        }
        task_definitions[name] = aws.ecs.TaskDefinition(
            n.family(name),
            family=n.family(name),
            cpu=str(cpu),
            memory=str(memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=pulumi.Output.json_dumps([container]),
            # Keep old revisions ACTIVE on replacement: services (ignore_changes) and rollbacks still use them.
            skip_destroy=True,
            tags=tags,
        )

    # --- routing: target groups + host/path rules on the shared HTTPS listener ---------------------------
    target_groups: dict[str, aws.lb.TargetGroup] = {}
    rules: dict[str, aws.lb.ListenerRule] = {}
    for offset, name in enumerate(x for x in SERVICES if x in PORTS):
        tg_name = target_group_name(env, name)
        target_groups[name] = aws.lb.TargetGroup(
            tg_name,
            name=tg_name,
            port=PORTS[name],
            protocol="HTTP",
            target_type="ip",
            vpc_id=out["vpc_id"],
            deregistration_delay=30,
            health_check={
                "path": HEALTH_PATHS[name],
                "matcher": "200-399",
                "interval": 15,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=tags,
        )
        rules[name] = aws.lb.ListenerRule(
            f"{tg_name}-rule",
            listener_arn=out["listener_arn"],
            priority=listener_priority(env, offset, s.listener_priority_base),
            actions=[{"type": "forward", "target_group_arn": target_groups[name].arn}],
            conditions=[
                {"host_header": {"values": [s.host]}},
                {"path_pattern": {"values": list(BACKEND_PATHS if name == "gunicorn" else ("/*",))}},
            ],
            tags={**tags, "Name": tg_name},
        )

    alb = aws.lb.get_load_balancer_output(name=f"{s.base_env}-alb")
    zone_id = s.hosted_zone_id or aws.route53.get_zone_output(name=s.domain, private_zone=False).zone_id
    aws.route53.Record(
        s.host,
        zone_id=zone_id,
        name=s.host,
        type="A",
        aliases=[{"name": out["alb_dns_name"], "zone_id": alb.zone_id, "evaluate_target_health": True}],
    )

    # --- services: desired 0, circuit breaker + rollback, pipeline owns task definition and count -----------
    services: dict[str, aws.ecs.Service] = {}
    for name in SERVICES:
        lb = name in PORTS
        singleton = name == "beat"  # two celery beats would schedule every periodic task twice
        services[name] = aws.ecs.Service(
            n.service(name),
            name=n.service(name),
            cluster=cluster.arn,
            task_definition=task_definitions[name].arn,
            desired_count=0,
            capacity_provider_strategies=[
                {"capacity_provider": "FARGATE_SPOT" if name in s.spot_services else "FARGATE", "weight": 1}
            ],
            network_configuration={
                "subnets": out["private_subnet_ids"],
                "security_groups": [out["app_security_group_id"]],
                "assign_public_ip": False,
            },
            load_balancers=(
                [
                    {
                        "target_group_arn": target_groups[name].arn,
                        "container_name": n.container(name),
                        "container_port": PORTS[name],
                    }
                ]
                if lb
                else None
            ),
            health_check_grace_period_seconds=60 if lb else None,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=0 if singleton else 100,
            deployment_maximum_percent=100 if singleton else 200,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            tags=tags,
            opts=service_options([capacity, *([rules[name]] if lb else [])]),
        )

    # --- optional CPU autoscaling (off unless configured) -------------------------------------------------
    for name, spec in s.autoscaling.items():
        target = aws.appautoscaling.Target(
            f"{n.service(name)}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", services[name].name),
            min_capacity=spec.min,
            max_capacity=spec.max,
        )
        aws.appautoscaling.Policy(
            f"{n.service(name)}-cpu",
            name=f"{n.service(name)}-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"},
                "target_value": spec.cpu,
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
        )

    return {
        "cluster_name": cluster.name,
        "url": f"https://{s.host}",
        "services": [svc.name for svc in services.values()],
        "task_definition_families": [td.family for td in task_definitions.values()],
        "listener_priorities": {name: rule.priority for name, rule in rules.items()},
    }


def main() -> None:
    """Program of the ``ublog-app`` project."""
    for key, value in build_app(AppSettings.from_config()).items():
        pulumi.export(key, value)
