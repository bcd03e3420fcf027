"""Where the IaC lives and where plan artifacts go.

Layout (issue 4): ``{iac_dir}/terraform/live/{stack}``, ``{iac_dir}/pulumi/{stack}``, ``{iac_dir}/cdk``. Plan
artifacts (Terraform plan files, Pulumi previews, CDK cloud assemblies) and their JSON summaries go to
``{plan_dir}`` (default ``.iac-plans/``, git-ignored) with the names below, so an apply step — or a CI job that
downloaded the artifact — finds the reviewed plan without being told.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from ..naming import NamingError, validate_env

STACKS = ("base", "app")


def check_stack(stack: str | None) -> str:
    if stack not in STACKS:
        raise ConfigError(f"unknown stack {stack!r}", hint="use --stack base or --stack app")
    return stack


def check_env(env: str | None) -> str:
    if not env:
        raise ConfigError("no env given", hint="pass --env NAME (e.g. dev for base, alpha for app)")
    try:
        return validate_env(env)
    except NamingError as exc:
        raise ConfigError(str(exc), hint="env names look like dev, alpha, beta-2") from None


@dataclass(frozen=True)
class Layout:
    iac_dir: Path
    plan_dir: Path

    @classmethod
    def from_config(cls, cfg: Config) -> Layout:
        return cls(Path(cfg.get("iac.dir") or "iac"), Path(cfg.get("iac.plan_dir") or ".iac-plans"))

    def artifact(self, tool: str, stack: str, env: str, suffix: str) -> Path:
        """``{plan_dir}/{tool}-{stack}-{env}{suffix}``, absolute (tools run in other directories)."""
        return (self.plan_dir / f"{tool}-{stack}-{env}{suffix}").resolve()

    def existing_dir(self, path: Path, what: str) -> Path:
        if not path.is_dir():
            raise ConfigError(
                f"{what} not found: {path}", hint="run inv from the repository root (or set ublog.iac.dir)"
            )
        return path.resolve()
