"""Inputs of the Pulumi programs, read from stack config (``Pulumi.<stack>.yaml``), validated before any
resource is declared. Keys are camelCase under the project's namespace (``ublog-base:``, ``ublog-app:``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import ensure_repo_on_path

ensure_repo_on_path()

import pulumi  # noqa: E402

from ublog_ops.naming import SERVICES, Names, validate_env  # noqa: E402

BASE_PROJECT = "ublog-base"
APP_PROJECT = "ublog-app"
#: Services whose CPU autoscaling may be switched on.
AUTOSCALABLE = ("gunicorn", "default")
#: Environment variable naming the Pulumi org of the base stack (exported by ``inv pulumi.*``).
ORG_ENV_VAR = "UBLOG_PULUMI_ORG"


@dataclass(frozen=True)
class BaseSettings:
    """Inputs of the base stack (config keys in camelCase under ``ublog-base:``)."""

    base_env: str
    certificate_arn: str
    prefix: str = "ublog"
    az_count: int = 2
    db_instance_class: str = "db.t4g.micro"
    db_engine_version: str = "16"
    db_allocated_storage: int = 20
    db_username: str = "ublog"
    db_multi_az: bool = False
    db_backup_retention_days: int = 7
    db_deletion_protection: bool = True
    db_skip_final_snapshot: bool = False
    redis_node_type: str = "cache.t4g.micro"
    redis_engine_version: str = "7.1"
    secret_recovery_window_days: int = 7

    def __post_init__(self) -> None:
        validate_env(self.base_env, "base env")
        if self.az_count < 2:
            raise ValueError(f"ublog-base:azCount must be at least 2 (ALB and RDS need two AZs), got {self.az_count}")

    @property
    def names(self) -> Names:
        return Names(env=self.base_env, base_env=self.base_env, prefix=self.prefix)

    @classmethod
    def from_config(cls) -> BaseSettings:
        c = pulumi.Config(BASE_PROJECT)
        d = cls.__dataclass_fields__

        def num(key: str, field: str) -> int:
            value = c.get_int(key)
            return d[field].default if value is None else value

        def flag(key: str, field: str) -> bool:
            value = c.get_bool(key)
            return d[field].default if value is None else value

        def text(key: str, field: str) -> str:
            return c.get(key) or d[field].default

        return cls(
            base_env=c.get("baseEnv") or pulumi.get_stack(),
            certificate_arn=c.require("certificateArn"),
            prefix=text("prefix", "prefix"),
            az_count=num("azCount", "az_count"),
            db_instance_class=text("dbInstanceClass", "db_instance_class"),
            db_engine_version=text("dbEngineVersion", "db_engine_version"),
            db_allocated_storage=num("dbAllocatedStorage", "db_allocated_storage"),
            db_username=text("dbUsername", "db_username"),
            db_multi_az=flag("dbMultiAz", "db_multi_az"),
            db_backup_retention_days=num("dbBackupRetentionDays", "db_backup_retention_days"),
            db_deletion_protection=flag("dbDeletionProtection", "db_deletion_protection"),
            db_skip_final_snapshot=flag("dbSkipFinalSnapshot", "db_skip_final_snapshot"),
            redis_node_type=text("redisNodeType", "redis_node_type"),
            redis_engine_version=text("redisEngineVersion", "redis_engine_version"),
            secret_recovery_window_days=num("secretRecoveryWindowDays", "secret_recovery_window_days"),
        )


@dataclass(frozen=True)
class Autoscaling:
    min: int = 1
    max: int = 4
    cpu: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.min <= self.max or self.max < 1:
            raise ValueError(f"autoscaling needs 0 <= min <= max and max >= 1, got min={self.min} max={self.max}")
        if not 1 <= self.cpu <= 100:
            raise ValueError(f"autoscaling cpu target must be 1..100 (%), got {self.cpu}")


@dataclass(frozen=True)
class AppSettings:
    """Inputs of the app stack (config keys in camelCase under ``ublog-app:``)."""

    env: str
    base_env: str = "dev"
    domain: str = "example.com"
    prefix: str = "ublog"
    org: str = "organization"
    #: First ALB rule priority of this env (gunicorn; web-ui = +1). None: derived from the env name.
    listener_priority_base: int | None = None
    #: Route53 hosted zone id; None: look up the public zone named ``domain``.
    hosted_zone_id: str | None = None
    #: Per-service CPU autoscaling (gunicorn, default); empty = off (the default).
    autoscaling: Mapping[str, Autoscaling] = field(default_factory=dict)
    #: Services that run on FARGATE_SPOT instead of FARGATE.
    spot_services: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_env(self.env)
        validate_env(self.base_env, "base env")
        unknown = set(self.autoscaling) - set(AUTOSCALABLE)
        if unknown:
            raise ValueError(f"autoscaling only for {', '.join(AUTOSCALABLE)}; not for {', '.join(sorted(unknown))}")
        unknown = set(self.spot_services) - set(SERVICES)
        if unknown:
            raise ValueError(f"spotServices: unknown service(s) {', '.join(sorted(unknown))}")

    @property
    def names(self) -> Names:
        return Names(env=self.env, base_env=self.base_env, prefix=self.prefix)

    @property
    def host(self) -> str:
        return f"{self.env}.{self.domain}"

    @property
    def base_stack_name(self) -> str:
        return f"{self.org}/{BASE_PROJECT}/{self.base_env}"

    @classmethod
    def from_config(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        environ = os.environ if environ is None else environ
        c = pulumi.Config(APP_PROJECT)
        scaling = c.get_object("autoscaling") or {}
        if not isinstance(scaling, dict):
            raise ValueError("ublog-app:autoscaling must be a map: {gunicorn: {min, max, cpu}, default: {...}}")
        return cls(
            env=c.get("env") or pulumi.get_stack(),
            base_env=c.get("baseEnv") or "dev",
            domain=c.require("domain"),
            prefix=c.get("prefix") or "ublog",
            org=environ.get(ORG_ENV_VAR) or c.get("org") or "organization",
            listener_priority_base=c.get_int("listenerPriority"),
            hosted_zone_id=c.get("hostedZoneId"),
            autoscaling={name: _autoscaling(name, spec) for name, spec in scaling.items()},
            spot_services=tuple(c.get_object("spotServices") or ()),
        )


def _autoscaling(name: str, spec: object) -> Autoscaling:
    keys = {f.name for f in dataclasses.fields(Autoscaling)}
    if not isinstance(spec, dict) or set(spec) - keys:
        raise ValueError(f"ublog-app:autoscaling.{name} must be a map with keys {', '.join(sorted(keys))}: {spec!r}")
    return Autoscaling(**spec)
