"""Per-env JSON config of the CDK app (``iac/cdk/config/{env}.json``), validated before anything is built.

A file describes one env: ``"stack": "base"`` (a base env such as ``dev``) or ``"stack": "app"`` (an app env
such as ``alpha``, with its ``base_env``). Unknown keys are rejected so a typo never silently falls back to a
default. Overrides (tests, one-off synths) are merged on top with :func:`load_env_config`'s ``overrides``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ublog_ops.naming import Names, validate_env, validate_tag

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

_COMMON = {"stack": str, "account": str, "region": str, "prefix": str}
_BASE = {
    **_COMMON,
    "certificate_arn": str,
    "db_instance_class": str,
    "db_allocated_storage_gb": int,
    "db_backup_retention_days": int,
    "db_deletion_protection": bool,
    "redis_node_type": str,
}
_APP = {
    **_COMMON,
    "base_env": str,
    "domain": str,
    "hosted_zone_id": (str, type(None)),
    "listener_priority": (int, type(None)),
    "image_tag": str,
    "environment": dict,
    "autoscaling": dict,
}
_SCALING_KEYS = {"enabled": bool, "min": int, "max": int, "cpu_target": int}
SCALABLE = ("gunicorn", "default")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_DOMAIN_RE = re.compile(r"^(?=.{1,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")


class ConfigError(ValueError):
    """The env config is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Scaling:
    enabled: bool = False
    min: int = 1
    max: int = 4
    cpu_target: int = 60


@dataclass(frozen=True)
class EnvConfig:
    """One env's settings. ``env`` is the file name; ``base_env`` equals ``env`` for a base env."""

    env: str
    stack: str
    account: str
    region: str
    prefix: str = "ublog"
    # base
    certificate_arn: str = ""
    db_instance_class: str = "t4g.micro"
    db_allocated_storage_gb: int = 20
    db_backup_retention_days: int = 7
    db_deletion_protection: bool = True
    redis_node_type: str = "cache.t4g.micro"
    # app
    base_env: str = ""
    domain: str = ""
    hosted_zone_id: str | None = None
    listener_priority: int | None = None
    image_tag: str = "latest"
    environment: Mapping[str, str] = field(default_factory=dict)
    autoscaling: Mapping[str, Scaling] = field(default_factory=dict)

    @property
    def names(self) -> Names:
        return Names(env=self.env, base_env=self.base_env or self.env, prefix=self.prefix)

    @property
    def stack_name(self) -> str:
        return f"{self.env}-{self.stack}"

    @property
    def host(self) -> str:
        return f"{self.env}.{self.domain}"


def _check_types(env: str, raw: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise ConfigError(f"config/{env}.json: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(schema)})")
    for key, value in raw.items():
        expected = schema[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        # bool is an int in Python: do not accept true for a number or 1 for a flag.
        ok = (
            type(None) in types
            if value is None
            else isinstance(value, types) and isinstance(value, bool) == (bool in types)
        )
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"config/{env}.json: {key} must be {names}, not {value!r}")


def parse_env_config(env: str, raw: Mapping[str, Any]) -> EnvConfig:
    """Validate ``raw`` (the JSON of ``config/{env}.json`` plus overrides) and return an EnvConfig."""
    validate_env(env)
    stack = raw.get("stack")
    if stack not in ("base", "app"):
        raise ConfigError(f'config/{env}.json: "stack" must be "base" or "app", not {stack!r}')
    _check_types(env, raw, _BASE if stack == "base" else _APP)
    for key in ("account", "region"):
        if key not in raw:
            raise ConfigError(f"config/{env}.json: {key} is required")
    if not _ACCOUNT_RE.match(raw["account"]):
        raise ConfigError(f"config/{env}.json: account must be a 12-digit AWS account id")
    if not _REGION_RE.match(raw["region"]):
        raise ConfigError(f"config/{env}.json: region {raw['region']!r} is not an AWS region name")
    values = dict(raw)
    if stack == "base":
        if not str(raw.get("certificate_arn", "")).startswith("arn:aws"):
            raise ConfigError(
                f"config/{env}.json: certificate_arn (the ACM certificate of the HTTPS listener) is required"
            )
        return EnvConfig(env=env, **values)
    for key in ("base_env", "domain"):
        if not raw.get(key):
            raise ConfigError(f"config/{env}.json: {key} is required for an app env")
    validate_env(raw["base_env"], "base env")
    if not _DOMAIN_RE.match(raw["domain"]):
        raise ConfigError(f"config/{env}.json: domain {raw['domain']!r} is not a DNS name")
    validate_tag(raw.get("image_tag", "latest"))
    priority = raw.get("listener_priority")
    if priority is not None and not 1 <= priority <= 49990:
        raise ConfigError(f"config/{env}.json: listener_priority must be 1..49990 (web-ui uses priority + 1)")
    env_vars = raw.get("environment", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items()):
        raise ConfigError(f"config/{env}.json: environment must map names to string values")
    scaling: dict[str, Scaling] = {}
    for name, spec in raw.get("autoscaling", {}).items():
        if name not in SCALABLE:
            raise ConfigError(f"config/{env}.json: autoscaling.{name}: only {', '.join(SCALABLE)} can autoscale")
        _check_types(env, spec, _SCALING_KEYS)
        item = Scaling(**spec)
        if not 0 <= item.min <= item.max or not 1 <= item.cpu_target <= 100:
            raise ConfigError(f"config/{env}.json: autoscaling.{name}: need 0 <= min <= max and cpu_target 1..100")
        scaling[name] = item
    values["autoscaling"] = scaling
    return EnvConfig(env=env, **values)


def load_env_config(env: str, config_dir: Path = CONFIG_DIR, overrides: Mapping[str, Any] | None = None) -> EnvConfig:
    """Read ``config_dir/{env}.json``, apply ``overrides`` and validate."""
    validate_env(env)
    path = config_dir / f"{env}.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in config_dir.glob("*.json"))) or "none"
        raise ConfigError(f"no config for env {env!r}: {path} does not exist (known envs: {known})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    return parse_env_config(env, {**raw, **(overrides or {})})


def known_envs(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.json"))
