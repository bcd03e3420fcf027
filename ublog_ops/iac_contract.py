"""The IaC contract: what μblog's `base` and `app` stacks contain, in one tool-neutral shape.

Terraform, Pulumi and CDK each build the same two stacks. Each tool's tests extract, from what that tool
produces (parsed HCL, Pulumi mock registrations, synthesized CloudFormation), a set of :class:`Fact` and compare
it with :func:`app_facts` / :func:`base_facts`; the parity test compares the three extractions with each other.
Pulumi and CDK programs import the values here (commands, ports, paths, priorities) so there is one source.

A fact is ``(kind, name, props)``; ``props`` is a sorted tuple of ``(key, value)`` whose values are str, int,
bool or tuples of those (use :func:`fact` to build one). Names are the AWS names (Name tag for VPC pieces).
Security-group ingress entries are ``(protocol, from_port, to_port, source)`` where source is a CIDR or
``sg:<group name>``. Every base resource that can be tagged carries ``env=<base>`` (checked per tool, not here).
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

from .naming import BACKEND, FAMILIES, FRONTEND, SERVICES, Names

# --- application facts shared by IaC and the sandbox -------------------------------------------------------
CELERY_APP = "backend.celery_app:app"
COMMANDS: dict[str, tuple[str, ...]] = {
    "gunicorn": ("gunicorn", "-t", "1000", "-b", "0.0.0.0:8000", "--log-level", "info", "backend.wsgi"),
    "default": ("celery", f"--app={CELERY_APP}", "worker", "--loglevel=INFO", "-Q", "default"),
    "beat": ("celery", f"--app={CELERY_APP}", "beat", "--loglevel=INFO"),
    "backend_update": ("python", "manage.py", "pre_update"),
    "web-ui": ("node", ".output/server/index.mjs"),
}
PORTS: dict[str, int] = {"gunicorn": 8000, "web-ui": 3000}
HEALTH_PATHS: dict[str, str] = {"gunicorn": "/api/health-check/", "web-ui": "/"}
#: Paths routed to gunicorn (an ALB rule allows 5 condition values: 1 host + 4 paths).
BACKEND_PATHS: tuple[str, ...] = ("/api/*", "/admin/*", "/graphql/*", "/mtv/*")
#: Sizes (Fargate cpu units / MiB) per family.
SIZES: dict[str, tuple[int, int]] = {
    "gunicorn": (512, 1024),
    "default": (512, 1024),
    "beat": (256, 512),
    "backend_update": (512, 1024),
    "web-ui": (256, 512),
}
LOG_RETENTION_DAYS = 30
DJANGO_SETTINGS_MODULE = "backend.settings.production"
#: Environment variable names of backend containers (values differ per tool; names must agree).
BACKEND_ENV_KEYS: tuple[str, ...] = (
    "DJANGO_SETTINGS_MODULE",
    "FRONTEND_URL",
    "POSTGRES_NAME",
    "POSTGRES_SERVICE_HOST",
    "REDIS_SERVICE_HOST",
    "S3_BUCKET_NAME",
)
FRONTEND_ENV_KEYS: tuple[str, ...] = ("API_BASE_URL", "NODE_ENV")
#: ECS secrets of backend containers (valueFrom = the RDS password secret).
BACKEND_SECRET_KEYS: tuple[str, ...] = ("POSTGRES_PASSWORD",)
VPC_CIDR = "10.0.0.0/16"
VPC_ENDPOINTS: dict[str, str] = {
    "ecr.api": "Interface",
    "ecr.dkr": "Interface",
    "secretsmanager": "Interface",
    "s3": "Gateway",
}
BASE_OUTPUTS: tuple[str, ...] = (
    "alb_dns_name",
    "app_security_group_id",
    "assets_bucket_name",
    "base_name",
    "listener_arn",
    "private_subnet_ids",
    "rds_address",
    "rds_password_secret_name",
    "redis_host",
    "vpc_id",
)


def listener_priority(env: str, offset: int = 0, base: int | None = None) -> int:
    """ALB rule priority for an app env: derived from the env name so several app envs share one base
    listener without clashing (gunicorn = base, web-ui = base + 1). ``base`` overrides (per-env config)."""
    if base is None:
        base = 10 * (1 + zlib.crc32(env.encode()) % 4900)
    return base + offset


def target_group_name(env: str, name: str) -> str:
    """Target group names are limited to 32 characters."""
    return f"{env}-{name}"[:32]


def assets_bucket_name(prefix: str, base_env: str) -> str:
    return f"{prefix}-{base_env}-assets"


class Fact(NamedTuple):
    kind: str
    name: str
    props: tuple[tuple[str, Any], ...]


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    return value


def fact(kind: str, name: str, **props: Any) -> Fact:
    return Fact(kind, name, tuple(sorted((k, _norm(v)) for k, v in props.items())))


def app_facts(env: str, base_env: str, domain: str, prefix: str = "ublog") -> set[Fact]:
    """Facts of the app stack for ``env`` on ``base_env``."""
    n = Names(env=env, base_env=base_env, prefix=prefix)
    host = f"{env}.{domain}"
    facts = {
        fact("ecs_cluster", n.cluster, capacity_providers=("FARGATE", "FARGATE_SPOT")),
        fact("iam_role", f"{env}-ecs-execution-role", assumed_by="ecs-tasks.amazonaws.com"),
        fact("iam_role", f"{env}-ecs-task-role", assumed_by="ecs-tasks.amazonaws.com"),
        fact("route53_record", host, type="A", alias=True),
    }
    for name, image in FAMILIES.items():
        cpu, memory = SIZES[name]
        facts.add(fact("log_group", n.log_group(name), retention_days=LOG_RETENTION_DAYS))
        facts.add(
            fact(
                "task_definition",
                n.family(name),
                container=n.container(name),
                image_repository=n.ecr_repository(image),
                image_tag="latest",
                command=COMMANDS[name],
                port=PORTS.get(name, 0),
                cpu=cpu,
                memory=memory,
                log_group=n.log_group(name),
                stream_prefix=n.log_stream_prefix(name),
                environment=BACKEND_ENV_KEYS if image == BACKEND else FRONTEND_ENV_KEYS,
                secrets=BACKEND_SECRET_KEYS if image == BACKEND else (),
            )
        )
    for offset, (name, _image) in enumerate(item for item in SERVICES.items() if item[0] in PORTS):
        paths = BACKEND_PATHS if name == "gunicorn" else ("/*",)
        facts.add(
            fact(
                "target_group",
                target_group_name(env, name),
                port=PORTS[name],
                health_path=HEALTH_PATHS[name],
                target_type="ip",
            )
        )
        facts.add(
            fact(
                "listener_rule",
                target_group_name(env, name),
                priority=listener_priority(env, offset),
                host=host,
                paths=paths,
            )
        )
    for name in SERVICES:
        facts.add(
            fact(
                "ecs_service",
                n.service(name),
                cluster=n.cluster,
                family=n.family(name),
                desired_count=0,
                circuit_breaker=True,
                rollback=True,
                redeploy_keeps=("desired_count", "task_definition"),
                target_group=target_group_name(env, name) if name in PORTS else "",
            )
        )
    return facts


def base_facts(base_env: str, prefix: str = "ublog") -> set[Fact]:
    """Facts of the base stack ``base_env``."""
    n = Names(env=base_env, base_env=base_env, prefix=prefix)
    b = base_env
    return {
        fact("vpc", f"{b}-vpc", cidr=VPC_CIDR, dns_hostnames=True),
        fact("subnet", f"{b}-public-1", public=True),
        fact("subnet", f"{b}-public-2", public=True),
        fact("subnet", f"{b}-private-1", public=False),
        fact("subnet", f"{b}-private-2", public=False),
        fact("nat_gateway", f"{b}-nat"),
        fact("security_group", f"{b}-alb-sg", ingress=(("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0"))),
        fact("security_group", n.ecs_security_group, ingress=(("tcp", 0, 65535, f"sg:{b}-alb-sg"),)),
        fact("security_group", f"{b}-rds-sg", ingress=(("tcp", 5432, 5432, f"sg:{n.ecs_security_group}"),)),
        # Redis and the interface VPC endpoints need their own groups: without them the tasks cannot reach Redis,
        # and with private DNS on, ECR/Secrets Manager calls resolve to endpoint ENIs that would drop them.
        fact("security_group", f"{b}-redis-sg", ingress=(("tcp", 6379, 6379, f"sg:{n.ecs_security_group}"),)),
        fact("security_group", f"{b}-vpce-sg", ingress=(("tcp", 443, 443, f"sg:{n.ecs_security_group}"),)),
        *(fact("vpc_endpoint", svc, type=kind) for svc, kind in VPC_ENDPOINTS.items()),
        fact("load_balancer", f"{b}-alb", scheme="internet-facing", type="application"),
        fact("listener", f"{b}-http", port=80, action="redirect"),
        fact("listener", f"{b}-https", port=443, action="fixed-response"),
        fact("rds_instance", n.rds_instance, engine="postgres", encrypted=True, publicly_accessible=False),
        fact("secret", n.rds_secret),
        fact("elasticache", f"{b}-redis", engine="redis"),
        fact("s3_bucket", assets_bucket_name(prefix, b), public_access_blocked=True),
        *(fact("output", name) for name in BASE_OUTPUTS),
    }


__all__ = [
    "BACKEND",
    "FRONTEND",
    "Fact",
    "app_facts",
    "assets_bucket_name",
    "base_facts",
    "fact",
    "listener_priority",
    "target_group_name",
]
