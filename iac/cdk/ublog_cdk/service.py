"""``Custom::EcsService``: ECS services whose task definition and desired count are set at creation only.

Why not ``AWS::ECS::Service``: CloudFormation has no ``ignore_changes``. A native service that references the
task-definition resource gets a new revision ARN on every redeploy that changes a container (image, env var),
and whenever CloudFormation updates the service it also sends the template's DesiredCount - so a redeploy would
replace the image the App Update pipeline deployed with ``latest`` and scale web services to 0.

Here the service is a custom resource (Lambda in ``ecs_service_handler.py``):

* ``TaskDefinition`` is the task-definition *family* string (``alpha-gunicorn``), never the revision ARN, so a
  new revision does not change the service's properties at all; ECS resolves the family to its latest ACTIVE
  revision once, when the service is created.
* ``DesiredCount`` (0) and ``TaskDefinition`` are listed in ``CreateOnly``: the handler uses them in
  CreateService and never sends them in UpdateService, even when another setting of the service changes.
* Every other setting (network, target group, circuit breaker, grace period, tags) is updated in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .ecs_service_handler import DEFAULT_CREATE_ONLY

HANDLER_SOURCE = Path(__file__).with_name("ecs_service_handler.py")
RESOURCE_TYPE = "Custom::EcsService"


class ServiceManager(Construct):
    """The Lambda that implements ``Custom::EcsService`` for one cluster (one per app stack)."""

    def __init__(self, scope: Construct, cid: str, *, env: str, cluster_name: str) -> None:
        super().__init__(scope, cid)
        stack = Stack.of(self)
        name = f"{env}-ecs-service-manager"
        log_group = logs.CfnLogGroup(self, "Logs", log_group_name=f"/aws/lambda/{name}", retention_in_days=30)
        role = iam.Role(
            self,
            "Role",
            role_name=name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Creates/updates the ECS services of {cluster_name} (never their task definition or count)",
        )
        service_arn = stack.format_arn(service="ecs", resource="service", resource_name=f"{cluster_name}/*")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ecs:CreateService",
                    "ecs:UpdateService",
                    "ecs:DeleteService",
                    "ecs:DescribeServices",
                    "ecs:TagResource",
                    "ecs:UntagResource",
                ],
                resources=[service_arn],
            )
        )
        role.add_to_policy(  # read-only check ECS may make on the caller's behalf for LoadBalancers
            iam.PolicyStatement(actions=["elasticloadbalancing:DescribeTargetGroups"], resources=["*"])
        )
        role.add_to_policy(  # the first ECS service of an account creates ECS's service-linked role
            iam.PolicyStatement(
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    stack.format_arn(
                        service="iam", region="", resource="role", resource_name="aws-service-role/ecs.amazonaws.com/*"
                    )
                ],
                conditions={"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[f"{log_group.attr_arn}:*"]
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline(HANDLER_SOURCE.read_text()),
            timeout=Duration.minutes(15),
            memory_size=256,
            role=role,
            description="Custom::EcsService: create-only task definition and desired count (see ublog_cdk/service.py)",
        )
        self.function.node.add_dependency(log_group)


class EcsService(Construct):
    """One ECS service as ``Custom::EcsService`` with AWS::ECS::Service property names."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        manager: ServiceManager,
        cluster: str,
        service_name: str,
        family: str,
        subnets: list[str],
        security_groups: list[str],
        load_balancer: dict[str, Any] | None = None,
        deployment_percents: tuple[int, int] = (100, 200),
        tags: dict[str, str] | None = None,
    ) -> None:
        super().__init__(scope, cid)
        props: dict[str, Any] = {
            "Cluster": cluster,
            "ServiceName": service_name,
            "TaskDefinition": family,  # the family: ECS picks its latest ACTIVE revision at creation only
            "DesiredCount": 0,
            "CreateOnly": list(DEFAULT_CREATE_ONLY),
            "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1, "Base": 0}],
            "PlatformVersion": "LATEST",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": subnets,
                    "SecurityGroups": security_groups,
                    "AssignPublicIp": "DISABLED",
                }
            },
            "DeploymentConfiguration": {
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                "MinimumHealthyPercent": deployment_percents[0],
                "MaximumPercent": deployment_percents[1],
            },
            "EnableExecuteCommand": True,
            "PropagateTags": "SERVICE",
            "Tags": [{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
        }
        if load_balancer:
            props["LoadBalancers"] = [load_balancer]
            props["HealthCheckGracePeriodSeconds"] = 60
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=manager.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties=props,
        )
        self.service_arn = self.resource.ref
        self.service_name = self.resource.get_att_string("Name")
