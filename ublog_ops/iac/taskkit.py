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
}


def help_for(keys: str, **extra: str) -> dict[str, str]:
    return {**{k: FLAG_HELP[k] for k in keys.split()}, **extra}


def resolve(c: Context, env: str | None, base_env: str | None = None) -> tuple[Config, str | None]:
    """Config for an IaC task; ``--env`` falls back to UBLOG_ENV/config like the app tasks."""
    from ..tasks.base import config_from

    cfg = config_from(c, env=env, base_env=base_env)
    return cfg, env or cfg.get("env")


def kwargs_none(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}
