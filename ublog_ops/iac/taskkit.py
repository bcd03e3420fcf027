"""What the three IaC task modules share: flag help texts and config resolution for ``--stack/--env``."""

from __future__ import annotations

from typing import Any

from invoke import Context

from ..config import Config

FLAG_HELP: dict[str, str] = {
    "stack": "base or app",
    "env": "env name: the base env (e.g. dev) for --stack base, the app env (e.g. alpha) for --stack app",
    "base_env": "base env the app stack builds on (UBLOG_BASE_ENV, default dev)",
    "allow_destroy": "allow a plan that replaces or destroys stateful resources (RDS, S3, ElastiCache, secrets, "
    "DynamoDB); without it such a plan is refused with exit 3",
    "yes": "confirm the destroy without typing the env name",
    "plan_only": "only show (and gate) what the destroy would do; change nothing (CI plan job)",
}


def help_for(keys: str, **extra: str) -> dict[str, str]:
    return {**{k: FLAG_HELP[k] for k in keys.split()}, **extra}


def resolve(c: Context, env: str | None, base_env: str | None = None, **flags: Any) -> tuple[Config, str | None]:
    """Config for an IaC task (``flags``: dotted config paths); ``--env`` falls back to UBLOG_ENV/config."""
    from ..tasks.base import config_from

    cfg = config_from(c, env=env, base_env=base_env, **flags)
    return cfg, env or cfg.get("env")
