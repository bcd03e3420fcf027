"""The ``{env}-app`` stack: one μblog app env (cluster, roles, logs, task definitions, services, routing, DNS).

It finds its base env through SSM parameters the base stack writes (see ``links.py``), so it needs no AWS lookup
at synth time. Names and values come from ``ublog_ops.naming`` and ``ublog_ops.iac_contract``.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack, Tags
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from ublog_ops.iac_contract import (
    BACKEND_ENV_KEYS,
    BACKEND_PATHS,
    BACKEND_SECRET_KEYS,
    COMMANDS,
    DJANGO_SETTINGS_MODULE,
    FRONTEND_ENV_KEYS,
    HEALTH_PATHS,
    LOG_RETENTION_DAYS,
    PORTS,
    SIZES,
    listener_priority,
    target_group_name,
)
from ublog_ops.naming import BACKEND, FAMILIES, IMAGE_KINDS, SERVICES

from .links import parameter_name
from .service import EcsService, ServiceManager
from .settings import SCALABLE, EnvConfig

TASK_PRINCIPAL = "ecs-tasks.amazonaws.com"


class AppStack(Stack):
    """ECS cluster ``{env}-cluster`` (FARGATE + FARGATE_SPOT), scoped execution/task roles, log groups
    ``/ecs/{env}/{name}``, the five task definitions, services ``{env}-{name}`` (circuit breaker + rollback,
    created with 0 tasks and image tag ``latest``, never changed by a redeploy), target groups and host+path
    listener rules on the base's HTTPS listener, a Route53 alias ``{env}.{domain}``, optional CPU autoscaling."""

    def __init__(self, scope: Construct, config: EnvConfig, **kwargs: object) -> None:
        super().__init__(scope, config.stack_name, stack_name=config.stack_name, **kwargs)
        self.config = config
        env, n = config.env, config.names
        Tags.of(self).add("env", env)
        Tags.of(self).add("base_env", n.base_env)

        def link(key: str) -> str:
            return ssm.StringParameter.value_for_string_parameter(self, parameter_name(config.prefix, n.base_env, key))

        subnets = ssm.StringListParameter.value_for_typed_list_parameter(
            self,
            parameter_name(config.prefix, n.base_env, "private_subnet_ids"),
            type=ssm.ParameterValueType.AWS_EC2_SUBNET_ID,
        )
        app_sg, vpc_id, listener_arn = link("app_security_group_id"), link("vpc_id"), link("listener_arn")
        bucket, secret_arn = link("assets_bucket_name"), link("rds_password_secret_arn")

        # --- cluster -------------------------------------------------------------------------------------------
        self.cluster = ecs.CfnCluster(
            self,
            "Cluster",
            cluster_name=n.cluster,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategy=[
                ecs.CfnCluster.CapacityProviderStrategyItemProperty(capacity_provider="FARGATE", weight=1)
            ],
            cluster_settings=[ecs.CfnCluster.ClusterSettingsProperty(name="containerInsights", value="enabled")],
        )

        # --- logs ----------------------------------------------------------------------------------------------
        log_groups = {
            name: logs.CfnLogGroup(
                self, f"Logs{_cid(name)}", log_group_name=n.log_group(name), retention_in_days=LOG_RETENTION_DAYS
            )
            for name in FAMILIES
        }

        # --- roles (no wildcard actions; resources scoped where the API allows it) ------------------------------
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            role_name=f"{env}-ecs-execution-role",
            assumed_by=iam.ServicePrincipal(TASK_PRINCIPAL),
            description=f"{env}: pull images, write logs, read the DB password",
        )
        self.execution_role.add_to_policy(  # GetAuthorizationToken has no resource-level permissions
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                resources=[
                    self.format_arn(service="ecr", resource="repository", resource_name=n.ecr_repository(kind))
                    for kind in IMAGE_KINDS
                ],
            )
        )
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{group.attr_arn}:*" for group in log_groups.values()],
            )
        )
        self.execution_role.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret_arn])
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            role_name=f"{env}-ecs-task-role",
            assumed_by=iam.ServicePrincipal(TASK_PRINCIPAL),
            description=f"{env}: what the ublog containers may do (assets bucket, ECS Exec)",
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}/*"],
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}"]
            )
        )
        self.task_role.add_to_policy(  # ECS Exec (`inv app.shell`): ssmmessages has no resource-level permissions
            iam.PolicyStatement(
                actions=[
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                ],
                resources=["*"],
            )
        )

        # --- task definitions ----------------------------------------------------------------------------------
        host = config.host
        backend_env = {
            "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS_MODULE,
            "FRONTEND_URL": f"https://{host}",
            "POSTGRES_NAME": n.db_name,
            "POSTGRES_SERVICE_HOST": link("rds_address"),
            "REDIS_SERVICE_HOST": link("redis_host"),
            "S3_BUCKET_NAME": bucket,
        }
        frontend_env = {"API_BASE_URL": f"https://{host}", "NODE_ENV": "production"}
        backend_secrets = {"POSTGRES_PASSWORD": f"{secret_arn}:password::"}  # the generated secret's JSON key
        for what, values, keys in (
            ("backend environment", backend_env, BACKEND_ENV_KEYS),
            ("frontend environment", frontend_env, FRONTEND_ENV_KEYS),
            ("backend secrets", backend_secrets, BACKEND_SECRET_KEYS),
        ):
            if tuple(sorted(values)) != tuple(sorted(keys)):
                raise ValueError(f"{what} {sorted(values)} does not match the contract {sorted(keys)}")
        backend_env.update(config.environment)  # extra backend variables from config/{env}.json
        self.task_definitions: dict[str, ecs.CfnTaskDefinition] = {}
        for name, kind in FAMILIES.items():
            cpu, memory = SIZES[name]
            backend = kind == BACKEND
            container = ecs.CfnTaskDefinition.ContainerDefinitionProperty(
                name=n.container(name),
                image=n.image(kind, config.image_tag, config.account, config.region),
                essential=True,
                command=list(COMMANDS[name]),
                port_mappings=(
                    [ecs.CfnTaskDefinition.PortMappingProperty(container_port=PORTS[name], protocol="tcp")]
                    if name in PORTS
                    else None
                ),
                environment=[
                    ecs.CfnTaskDefinition.KeyValuePairProperty(name=k, value=v)
                    for k, v in sorted((backend_env if backend else frontend_env).items())
                ],
                secrets=(
                    [ecs.CfnTaskDefinition.SecretProperty(name=k, value_from=v) for k, v in backend_secrets.items()]
                    if backend
                    else None
                ),
                log_configuration=ecs.CfnTaskDefinition.LogConfigurationProperty(
                    log_driver="awslogs",
                    options={
                        "awslogs-group": n.log_group(name),
                        "awslogs-region": config.region,
                        "awslogs-stream-prefix": n.log_stream_prefix(name),
                    },
                ),
            )
            td = ecs.CfnTaskDefinition(
                self,
                f"Task{_cid(name)}",
                family=n.family(name),
                cpu=str(cpu),
                memory=str(memory),
                network_mode="awsvpc",
                requires_compatibilities=["FARGATE"],
                runtime_platform=ecs.CfnTaskDefinition.RuntimePlatformProperty(
                    cpu_architecture="X86_64", operating_system_family="LINUX"
                ),
                execution_role_arn=self.execution_role.role_arn,
                task_role_arn=self.task_role.role_arn,
                container_definitions=[container],
            )
            td.node.add_dependency(log_groups[name])
            # A redeploy that changes a container replaces this resource (= a new revision). Retain keeps the old
            # revision ACTIVE: a service or a rollback may still use it (Terraform: skip_destroy).
            td.apply_removal_policy(RemovalPolicy.RETAIN)
            self.task_definitions[name] = td

        # --- routing: one target group + listener rule per web service on the shared base listener -------------
        rules: dict[str, elbv2.CfnListenerRule] = {}
        target_groups: dict[str, elbv2.CfnTargetGroup] = {}
        for offset, name in enumerate(s for s in SERVICES if s in PORTS):
            tg = elbv2.CfnTargetGroup(
                self,
                f"Target{_cid(name)}",
                name=target_group_name(env, name),
                port=PORTS[name],
                protocol="HTTP",
                target_type="ip",
                vpc_id=vpc_id,
                health_check_path=HEALTH_PATHS[name],
                health_check_protocol="HTTP",
                health_check_interval_seconds=15,
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
                matcher=elbv2.CfnTargetGroup.MatcherProperty(http_code="200-399"),
                target_group_attributes=[
                    elbv2.CfnTargetGroup.TargetGroupAttributeProperty(
                        key="deregistration_delay.timeout_seconds", value="30"
                    )
                ],
            )
            paths = BACKEND_PATHS if name == "gunicorn" else ("/*",)
            rules[name] = elbv2.CfnListenerRule(
                self,
                f"Rule{_cid(name)}",
                listener_arn=listener_arn,
                priority=listener_priority(env, offset, config.listener_priority),
                actions=[elbv2.CfnListenerRule.ActionProperty(type="forward", target_group_arn=tg.ref)],
                conditions=[
                    elbv2.CfnListenerRule.RuleConditionProperty(
                        field="host-header",
                        host_header_config=elbv2.CfnListenerRule.HostHeaderConfigProperty(values=[host]),
                    ),
                    elbv2.CfnListenerRule.RuleConditionProperty(
                        field="path-pattern",
                        path_pattern_config=elbv2.CfnListenerRule.PathPatternConfigProperty(values=list(paths)),
                    ),
                ],
            )
            target_groups[name] = tg

        # --- DNS -----------------------------------------------------------------------------------------------
        route53.CfnRecordSet(
            self,
            "Dns",
            name=f"{host}.",
            type="A",
            hosted_zone_id=config.hosted_zone_id,
            hosted_zone_name=None if config.hosted_zone_id else f"{config.domain}.",
            alias_target=route53.CfnRecordSet.AliasTargetProperty(
                dns_name=link("alb_dns_name"),
                hosted_zone_id=link("alb_canonical_hosted_zone_id"),
                evaluate_target_health=True,
            ),
        )

        # --- services ------------------------------------------------------------------------------------------
        manager = ServiceManager(self, "ServiceManager", env=env, cluster_name=n.cluster)
        self.services: dict[str, EcsService] = {}
        for name in SERVICES:
            lb = None
            if name in PORTS:
                lb = {
                    "TargetGroupArn": target_groups[name].ref,
                    "ContainerName": n.container(name),
                    "ContainerPort": PORTS[name],
                }
            service = EcsService(
                self,
                f"Service{_cid(name)}",
                manager=manager,
                cluster=self.cluster.ref,
                service_name=n.service(name),
                family=n.family(name),
                subnets=subnets,
                security_groups=[app_sg],
                load_balancer=lb,
                # beat: stop the old scheduler before starting the new one, never two at once.
                deployment_percents=(0, 100) if name == "beat" else (100, 200),
                tags={"env": env, "base_env": n.base_env},
            )
            # The family must have a revision before CreateService; a target group must be behind a listener.
            service.node.add_dependency(self.task_definitions[name])
            if name in rules:
                service.node.add_dependency(rules[name])
            self.services[name] = service

        # --- optional CPU autoscaling (off by default) ---------------------------------------------------------
        for name in SCALABLE:
            scaling = config.autoscaling.get(name)
            if not scaling or not scaling.enabled:
                continue
            target = appscaling.CfnScalableTarget(
                self,
                f"Scaling{_cid(name)}",
                service_namespace="ecs",
                scalable_dimension="ecs:service:DesiredCount",
                resource_id=f"service/{n.cluster}/{n.service(name)}",
                min_capacity=scaling.min,
                max_capacity=scaling.max,
            )
            target.node.add_dependency(self.services[name])
            appscaling.CfnScalingPolicy(
                self,
                f"ScalingPolicy{_cid(name)}",
                policy_name=f"{n.service(name)}-cpu",
                policy_type="TargetTrackingScaling",
                scaling_target_id=target.ref,
                target_tracking_scaling_policy_configuration=appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                    target_value=float(scaling.cpu_target),
                    predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                        predefined_metric_type="ECSServiceAverageCPUUtilization"
                    ),
                    scale_in_cooldown=120,
                    scale_out_cooldown=60,
                ),
            )


def _cid(name: str) -> str:
    """Construct id part for a family name: ``web-ui`` -> ``WebUi``, ``backend_update`` -> ``BackendUpdate``."""
    return "".join(p.capitalize() for p in name.replace("_", "-").split("-"))
