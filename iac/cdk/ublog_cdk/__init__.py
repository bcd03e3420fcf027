"""μblog's CDK app: the ``{env}-base`` and ``{env}-app`` stacks, built from ``ublog_ops`` naming and contract.

:func:`build` is what ``app.py`` (run by ``cdk synth``/``deploy``) and the tests call, with the same context as
``cdk.json`` so both synthesize identical templates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from .app_stack import AppStack
from .base_stack import BaseStack
from .settings import CONFIG_DIR, ConfigError, EnvConfig, known_envs, load_env_config

CDK_DIR = Path(__file__).resolve().parent.parent

__all__ = ["AppStack", "BaseStack", "ConfigError", "EnvConfig", "build", "cdk_json_context", "load_env_config"]


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of cdk.json (availability zones, feature flags)."""
    return json.loads((CDK_DIR / "cdk.json").read_text())["context"]


def add_stack(app: cdk.App, config: EnvConfig) -> cdk.Stack:
    env = cdk.Environment(account=config.account, region=config.region)
    kind = BaseStack if config.stack == "base" else AppStack
    return kind(app, config, env=env, description=f"ublog {config.stack} stack {config.env} (ublog-ops CDK)")


def build(
    envs: list[str] | None = None,
    *,
    app: cdk.App | None = None,
    stack: str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    config_dir: Path = CONFIG_DIR,
    outdir: str | None = None,
) -> dict[str, cdk.Stack]:
    """Add the stacks of ``envs`` (default: every ``config/*.json``) to ``app`` and return them by stack name.

    ``stack`` ("base"/"app") checks that each env is of that kind (without ``envs``: selects the envs of that
    kind); ``overrides[env]`` is merged into its config. Every config is validated before any stack is built.
    """
    if stack not in (None, "base", "app"):
        raise ConfigError(f"-c stack={stack} must be base or app")
    configs = [load_env_config(env, config_dir, (overrides or {}).get(env)) for env in envs or known_envs(config_dir)]
    if not envs and stack:  # `-c stack=app` alone: every env of that kind
        configs = [config for config in configs if config.stack == stack]
    for config in configs:
        if stack and config.stack != stack:
            raise ConfigError(
                f"env {config.env!r} is a {config.stack} env (config/{config.env}.json), "
                f"but stack={stack} was asked for"
            )
    if app is None:
        app = cdk.App(context=cdk_json_context(), outdir=outdir)
    stacks: dict[str, cdk.Stack] = {}
    for config in configs:
        stacks[config.stack_name] = add_stack(app, config)
    return stacks
