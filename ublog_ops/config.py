"""Configuration with one documented precedence (lowest first):

1. defaults in code (:data:`DEFAULTS`, declared to Invoke with ``Collection.configure({"ublog": DEFAULTS})``);
2. ``invoke.yaml`` (key ``ublog``) — and ``INVOKE_UBLOG_*`` variables, which Invoke applies on top of it;
3. ``.env`` in the working directory (python-dotenv; it never overrides a real environment variable);
4. environment variables ``UBLOG_*`` (the table :data:`ENV_VARS`; ``.env.example`` documents each one);
5. task flags.

Credentials and region come only from the standard boto3 chain (profiles, SSO, env keys, roles); the only AWS
settings here are an optional profile and region passed to that chain.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .naming import SERVICES, Names, NamingError, validate_env

DEFAULTS: dict[str, Any] = {
    "env": None,  # app env, e.g. "alpha"; required by app tasks (flag --env or UBLOG_ENV)
    "base_env": "dev",
    "ecr_prefix": "ublog",
    "aws_profile": None,
    "aws_region": None,
    "names": {},  # overrides of ublog_ops.naming.TEMPLATES
    "desired_counts": {name: 1 for name in SERVICES},  # used when a service's current desired count is 0
    "pre_update": {"command": None, "timeout": 1800},
    "rollout": {"timeout": 1800, "stall_timeout": 600, "poll_interval": 6.0},
    "lock": {"table": None, "ttl": 3600},
    "iac": {
        "state_bucket": None,
        "state_region": None,
        "lock_table": None,
        "pulumi_org": "organization",
        "domain": "example.com",
        "dir": "iac",  # where terraform/, pulumi/, cdk/ live (relative to the working directory)
        "plan_dir": ".iac-plans",  # saved plans / previews / cloud assemblies + their JSON summaries
        "backend_config": {},  # terraform -backend-config pairs used instead of the S3 settings when not empty
    },
    "sandbox": {"host": "127.0.0.1", "port": 5055, "behaviour": None, "dir": ".sandbox"},
    "runbook": {"dir": None, "runs_dir": None},  # default: ./runbooks (else the repo's), runs under dir/runs
}


def _int(v: str) -> int:
    return int(v)


def _float(v: str) -> float:
    return float(v)


def _str(v: str) -> str | None:
    return v or None


#: Environment variable -> (config path, parser, description). ``.env.example`` lists exactly these.
ENV_VARS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "UBLOG_ENV": ("env", _str, "app env to act on, e.g. alpha"),
    "UBLOG_BASE_ENV": ("base_env", _str, "base env whose VPC/RDS the app env uses"),
    "UBLOG_ECR_PREFIX": ("ecr_prefix", _str, "ECR repositories are {prefix}-backend and {prefix}-frontend"),
    "UBLOG_AWS_PROFILE": ("aws_profile", _str, "named AWS profile (else the default boto3 chain)"),
    "UBLOG_AWS_REGION": ("aws_region", _str, "AWS region (else the default boto3 chain)"),
    "UBLOG_PRE_UPDATE_COMMAND": ("pre_update.command", _str, "override the pre-update command (shell words)"),
    "UBLOG_PRE_UPDATE_TIMEOUT": ("pre_update.timeout", _int, "seconds before the pre-update task is stopped"),
    "UBLOG_ROLLOUT_TIMEOUT": ("rollout.timeout", _int, "deadline in seconds for a rollout"),
    "UBLOG_STALL_TIMEOUT": ("rollout.stall_timeout", _int, "fail a rollout that makes no progress this long"),
    "UBLOG_POLL_INTERVAL": ("rollout.poll_interval", _float, "seconds between DescribeServices polls"),
    "UBLOG_LOCK_TABLE": ("lock.table", _str, "DynamoDB table for the deploy lock (default {prefix}-terraform-locks)"),
    "UBLOG_LOCK_TTL": ("lock.ttl", _int, "seconds after which a deploy lock expires"),
    "UBLOG_TF_STATE_BUCKET": ("iac.state_bucket", _str, "S3 bucket of Terraform state"),
    "UBLOG_TF_STATE_REGION": ("iac.state_region", _str, "region of the Terraform state bucket"),
    "UBLOG_TF_LOCK_TABLE": ("iac.lock_table", _str, "DynamoDB table for Terraform state locks"),
    "UBLOG_PULUMI_ORG": ("iac.pulumi_org", _str, "Pulumi organization of the stacks"),
    "UBLOG_DOMAIN": ("iac.domain", _str, "domain; app env N is served at N.{domain}"),
    "UBLOG_SANDBOX_PORT": ("sandbox.port", _int, "port of the local sandbox (127.0.0.1)"),
    "UBLOG_SANDBOX_BEHAVIOUR": ("sandbox.behaviour", _str, "behaviour file of the sandbox (JSON or YAML)"),
    "UBLOG_RUNBOOKS_DIR": ("runbook.dir", _str, "directory of the runbooks (default ./runbooks)"),
    "UBLOG_RUNBOOK_RUNS_DIR": ("runbook.runs_dir", _str, "where run records go (default runbooks/runs)"),
}
for _name in SERVICES:
    ENV_VARS[f"UBLOG_DESIRED_COUNT_{_name.upper().replace('-', '_')}"] = (
        f"desired_counts.{_name}",
        _int,
        f"desired count for {_name} when it is at 0",
    )


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
    return base


def read_env(environ: Mapping[str, str], dotenv_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """UBLOG_* settings from ``.env`` then the environment (environment wins), parsed into a config tree."""
    from dotenv import dotenv_values

    raw: dict[str, str] = {}
    if dotenv_path and Path(dotenv_path).is_file():
        raw.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    raw.update({k: v for k, v in environ.items() if k.startswith("UBLOG_")})
    tree: dict[str, Any] = {}
    for var, value in raw.items():
        if var not in ENV_VARS:
            continue
        path, parse, _ = ENV_VARS[var]
        try:
            _set(tree, path, parse(value))
        except ValueError:
            raise ConfigError(f"{var}={value!r} is not valid", hint=f"{var}: {ENV_VARS[var][2]}") from None
    return tree


@dataclass(frozen=True)
class Config:
    """Resolved settings. ``data`` is the merged tree; accessors give typed views."""

    data: Mapping[str, Any]

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.data
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node

    @property
    def env(self) -> str:
        env = self.data.get("env")
        if not env:
            raise ConfigError("no app env given", hint="pass --env NAME or set UBLOG_ENV")
        try:
            return validate_env(env)
        except NamingError as exc:
            raise ConfigError(str(exc), hint="env names look like alpha, beta-2, prod") from None

    @property
    def base_env(self) -> str:
        try:
            return validate_env(self.data.get("base_env") or "", "base env")
        except NamingError as exc:
            raise ConfigError(str(exc), hint="set --base-env or UBLOG_BASE_ENV") from None

    def names(self, env: str | None = None) -> Names:
        try:
            return Names(
                env=env or self.env,
                base_env=self.base_env,
                prefix=self.data.get("ecr_prefix") or "ublog",
                overrides=dict(self.data.get("names") or {}),
            )
        except NamingError as exc:
            raise ConfigError(str(exc), hint="check ublog.names / UBLOG_ECR_PREFIX") from None

    def desired_count(self, service: str) -> int:
        return int((self.data.get("desired_counts") or {}).get(service, 1))

    @property
    def lock_table(self) -> str:
        return self.get("lock.table") or self.names().deploy_lock_table


def load_config(
    invoke_ublog: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | os.PathLike[str] | None = ".env",
) -> Config:
    """Merge the layers in the documented order. ``flags`` whose value is None are ignored."""
    data = copy.deepcopy(DEFAULTS)
    if invoke_ublog:
        _merge(data, _plain(invoke_ublog))
    _merge(data, read_env(os.environ if environ is None else environ, dotenv_path))
    for path, value in (flags or {}).items():
        if value is not None:
            _set(data, path, value)
    return Config(data)


def _plain(value: Any) -> Any:
    """Invoke's DataProxy -> plain dicts."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value
