"""The ``{base}-base`` stack: network, ALB, PostgreSQL, Redis and the assets bucket shared by several app envs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from ublog_ops.iac_contract import BASE_OUTPUTS, VPC_CIDR, VPC_ENDPOINTS, assets_bucket_name

from .links import EXTRA_LINKS, LIST_LINKS, output_id, parameter_name
from .settings import EnvConfig

#: Database master user (the password is generated into Secrets Manager; it never appears in the template).
DB_USER = "ublog"
POSTGRES_PORT = 5432
REDIS_PORT = 6379


class BaseStack(Stack):
    """VPC (2 AZs, public + private subnets, one NAT), security groups, VPC endpoints, ALB (HTTP->HTTPS redirect,
    HTTPS listener with a fixed-response default), RDS PostgreSQL, ElastiCache Redis, S3 assets bucket.
    Every taggable resource carries ``env={base}``; each output is also written to SSM for the app stacks."""

    def __init__(self, scope: Construct, config: EnvConfig, **kwargs: object) -> None:
        super().__init__(scope, config.stack_name, stack_name=config.stack_name, **kwargs)
        self.config = config
        b = config.env
        n = config.names
        Tags.of(self).add("env", b)

        # --- network -------------------------------------------------------------------------------------------
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"{b}-vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=1,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
        )
        # Name tags the contract (and ublog-ops' subnet lookup by `env` tag + `*private*` Name) relies on.
        # Tags.of(subnet) also names the subnet's route table; the NAT gateway gets its own name (higher priority).
        for kind, subnets in (("public", self.vpc.public_subnets), ("private", self.vpc.private_subnets)):
            for i, subnet in enumerate(subnets, start=1):
                Tags.of(subnet).add("Name", f"{b}-{kind}-{i}")
        for child in self.vpc.public_subnets[0].node.children:
            if isinstance(child, ec2.CfnNatGateway):
                Tags.of(child).add("Name", f"{b}-nat", priority=200)

        # --- security groups -----------------------------------------------------------------------------------
        self.alb_sg = self._group("AlbSg", f"{b}-alb-sg", "ALB: HTTP and HTTPS from anywhere")
        self.alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP (redirected to HTTPS)")
        self.alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS")
        self.app_sg = self._group("AppSg", n.ecs_security_group, "ECS tasks: reachable only from the ALB")
        self.app_sg.add_ingress_rule(self.alb_sg, ec2.Port.all_tcp(), "from the ALB")
        self.rds_sg = self._group("RdsSg", f"{b}-rds-sg", "PostgreSQL: only from the ECS tasks")
        self.rds_sg.add_ingress_rule(self.app_sg, ec2.Port.tcp(POSTGRES_PORT), "PostgreSQL from ECS tasks")
        self.redis_sg = self._group("RedisSg", f"{b}-redis-sg", "Redis: only from the ECS tasks")
        self.redis_sg.add_ingress_rule(self.app_sg, ec2.Port.tcp(REDIS_PORT), "Redis from ECS tasks")
        self.vpce_sg = self._group("VpceSg", f"{b}-vpce-sg", "Interface VPC endpoints: HTTPS from the ECS tasks")
        self.vpce_sg.add_ingress_rule(self.app_sg, ec2.Port.tcp(443), "HTTPS from ECS tasks")

        # --- VPC endpoints: image pulls and secrets stay off the NAT gateway ----------------------------------
        private = ec2.SubnetSelection(subnets=self.vpc.private_subnets)
        for key, kind in VPC_ENDPOINTS.items():
            label = key.replace(".", "-")
            cid = "".join(p.capitalize() for p in label.split("-")) + "Endpoint"
            if kind == "Gateway":
                endpoint = self.vpc.add_gateway_endpoint(cid, service=ec2.GatewayVpcEndpointAwsService(key))
            else:
                endpoint = self.vpc.add_interface_endpoint(
                    cid,
                    service=ec2.InterfaceVpcEndpointAwsService(key),
                    subnets=private,
                    security_groups=[self.vpce_sg],
                    open=False,
                    private_dns_enabled=True,
                )
            Tags.of(endpoint).add("Name", f"{b}-{label}")

        # --- load balancer -------------------------------------------------------------------------------------
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            load_balancer_name=f"{b}-alb",
            vpc=self.vpc,
            internet_facing=True,
            security_group=self.alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnets=self.vpc.public_subnets),
            drop_invalid_header_fields=True,
        )
        self.alb.add_redirect(
            source_port=80, source_protocol=elbv2.ApplicationProtocol.HTTP, target_port=443, open=False
        )
        self.https = self.alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(config.certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=elbv2.ListenerAction.fixed_response(
                404, content_type="text/plain", message_body="no app env serves this host"
            ),
        )

        # --- PostgreSQL (password generated into Secrets Manager) ----------------------------------------------
        self.db = rds.DatabaseInstance(
            self,
            "Rds",
            instance_identifier=n.rds_instance,
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9),
            instance_type=ec2.InstanceType(config.db_instance_class),
            credentials=rds.Credentials.from_generated_secret(DB_USER, secret_name=n.rds_secret),
            vpc=self.vpc,
            vpc_subnets=private,
            security_groups=[self.rds_sg],
            port=POSTGRES_PORT,
            allocated_storage=config.db_allocated_storage_gb,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            publicly_accessible=False,
            multi_az=False,
            backup_retention=Duration.days(config.db_backup_retention_days),
            deletion_protection=config.db_deletion_protection,
            auto_minor_version_upgrade=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        secret = self.db.secret
        assert secret is not None  # generated credentials always produce a secret

        # --- Redis ---------------------------------------------------------------------------------------------
        redis_subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            cache_subnet_group_name=f"{b}-redis",
            description=f"{b} Redis subnets (private)",
            subnet_ids=[s.subnet_id for s in self.vpc.private_subnets],
        )
        self.redis = elasticache.CfnCacheCluster(
            self,
            "Redis",
            cluster_name=f"{b}-redis",
            engine="redis",
            cache_node_type=config.redis_node_type,
            num_cache_nodes=1,
            port=REDIS_PORT,
            cache_subnet_group_name=redis_subnets.ref,
            vpc_security_group_ids=[self.redis_sg.security_group_id],
            auto_minor_version_upgrade=True,
        )

        # --- assets bucket -------------------------------------------------------------------------------------
        self.bucket = s3.Bucket(
            self,
            "Assets",
            bucket_name=assets_bucket_name(config.prefix, b),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        # --- outputs: stack Outputs for people, SSM parameters for the app stacks ------------------------------
        values = {
            "alb_dns_name": self.alb.load_balancer_dns_name,
            "app_security_group_id": self.app_sg.security_group_id,
            "assets_bucket_name": self.bucket.bucket_name,
            "base_name": b,
            "listener_arn": self.https.listener_arn,
            "private_subnet_ids": [s.subnet_id for s in self.vpc.private_subnets],
            "rds_address": self.db.db_instance_endpoint_address,
            "rds_password_secret_name": n.rds_secret,  # the name only; the password never leaves Secrets Manager
            "redis_host": self.redis.attr_redis_endpoint_address,
            "vpc_id": self.vpc.vpc_id,
            "alb_canonical_hosted_zone_id": self.alb.load_balancer_canonical_hosted_zone_id,
            "rds_password_secret_arn": secret.secret_arn,
        }
        assert set(values) == set(BASE_OUTPUTS) | set(EXTRA_LINKS)
        for key, value in values.items():
            name = parameter_name(config.prefix, b, key)
            cid = f"Link{output_id(key)}"
            if key in LIST_LINKS:
                ssm.StringListParameter(self, cid, parameter_name=name, string_list_value=value)
                shown = Fn.join(",", value)
            else:
                ssm.StringParameter(self, cid, parameter_name=name, string_value=value)
                shown = value
            if key in BASE_OUTPUTS:
                CfnOutput(self, output_id(key), value=shown, description=f"{key} (also SSM {name})")

    def _group(self, cid: str, name: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, cid, vpc=self.vpc, security_group_name=name, description=description, allow_all_outbound=True
        )
