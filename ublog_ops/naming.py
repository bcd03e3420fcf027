"""The naming contract: the only place where AWS resource names are made.

The names match what μblog's IaC creates (Terraform, Pulumi and CDK in ``iac/``), so the tool works on such
infrastructure unchanged. Every name can be overridden from config (``ublog.names.<key>`` with ``{env}``,
``{base_env}``, ``{name}``, ``{prefix}`` placeholders), e.g. ``names: {cluster: "{env}-ecs"}``.

This module imports nothing heavy: the IaC programs (Pulumi, CDK) import it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Services of an app env, in rollout/display order, and the image each one runs.
BACKEND = "backend"
FRONTEND = "frontend"
SERVICES: Mapping[str, str] = MappingProxyType(
    {"gunicorn": BACKEND, "default": BACKEND, "beat": BACKEND, "web-ui": FRONTEND}
)
#: The one-off task family (no service) that runs before the backend services are updated.
PRE_UPDATE = "backend_update"
#: Every task-definition family of an app env and the image it runs.
FAMILIES: Mapping[str, str] = MappingProxyType({**SERVICES, PRE_UPDATE: BACKEND})
IMAGE_KINDS = (BACKEND, FRONTEND)

ENV_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,200}$")

#: Default templates. Keys are the override keys accepted in config ``ublog.names``.
TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "cluster": "{env}-cluster",
        "service": "{env}-{name}",
        "family": "{env}-{name}",
        "container": "{name}",
        "log_group": "/ecs/{env}/{name}",
        "log_stream_prefix": "{name}",
        "ecr_repository": "{prefix}-{name}",
        "db_name": "{env}-db",
        "ecs_security_group": "{base_env}-ecs-sg",
        "private_subnet_pattern": "*private*",
        "rds_instance": "{base_env}-rds",
        "rds_secret": "{base_env}-rds-password",
        "deploy_lock_table": "{prefix}-terraform-locks",
        "state_bucket": "{prefix}-terraform-state",
    }
)


class NamingError(ValueError):
    """A name or name input that breaks the contract."""


def validate_env(env: str, what: str = "env") -> str:
    """Return ``env`` if it is a valid env name (``[a-z][a-z0-9-]{0,30}``), else raise NamingError."""
    if not isinstance(env, str) or not ENV_RE.match(env):
        raise NamingError(f"invalid {what} name {env!r}: must match [a-z][a-z0-9-]{{0,30}}")
    return env


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid image tag (Docker rules), else raise NamingError."""
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        raise NamingError(f"invalid image tag {tag!r}: use letters, digits, '_', '.', '-' (max 128)")
    return tag


@dataclass(frozen=True)
class Names:
    """Names for one app env on one base env.

    >>> n = Names(env="alpha", base_env="dev", prefix="ublog")
    >>> n.cluster, n.service("gunicorn"), n.log_group("web-ui"), n.ecr_repository("backend")
    ('alpha-cluster', 'alpha-gunicorn', '/ecs/alpha/web-ui', 'ublog-backend')
    """

    env: str
    base_env: str = "dev"
    prefix: str = "ublog"
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_env(self.env)
        validate_env(self.base_env, "base env")
        if not PREFIX_RE.match(self.prefix or ""):
            raise NamingError(f"invalid ECR prefix {self.prefix!r}")
        unknown = set(self.overrides) - set(TEMPLATES)
        if unknown:
            raise NamingError(f"unknown name override(s): {', '.join(sorted(unknown))}")
        for key in self.overrides:  # a bad placeholder fails here, before any AWS call, not mid-run
            self._fmt(key, "x")

    def _fmt(self, key: str, name: str = "") -> str:
        template = self.overrides.get(key) or TEMPLATES[key]
        try:
            return template.format(env=self.env, base_env=self.base_env, prefix=self.prefix, name=name)
        except (KeyError, IndexError) as exc:
            raise NamingError(f"name template {key}={template!r} uses an unknown placeholder {exc}") from None

    # --- app env -------------------------------------------------------------------------------------------
    @property
    def cluster(self) -> str:
        return self._fmt("cluster")

    def service(self, name: str) -> str:
        return self._fmt("service", name)

    def family(self, name: str) -> str:
        return self._fmt("family", name)

    def container(self, name: str) -> str:
        return self._fmt("container", name)

    def log_group(self, name: str) -> str:
        return self._fmt("log_group", name)

    def log_stream_prefix(self, name: str) -> str:
        return self._fmt("log_stream_prefix", name)

    def log_stream(self, name: str, task_id: str, container: str | None = None) -> str:
        """awslogs stream: ``{prefix}/{container}/{task-id}``."""
        return f"{self.log_stream_prefix(name)}/{container or self.container(name)}/{task_id}"

    @property
    def db_name(self) -> str:
        return self._fmt("db_name")

    # --- images --------------------------------------------------------------------------------------------
    def ecr_repository(self, kind: str) -> str:
        if kind not in IMAGE_KINDS:
            raise NamingError(f"unknown image kind {kind!r} (expected one of {', '.join(IMAGE_KINDS)})")
        return self._fmt("ecr_repository", kind)

    def image(self, kind: str, tag: str, account: str, region: str) -> str:
        return f"{account}.dkr.ecr.{region}.amazonaws.com/{self.ecr_repository(kind)}:{validate_tag(tag)}"

    # --- base env ------------------------------------------------------------------------------------------
    @property
    def base_tag(self) -> dict[str, str]:
        """Tag that marks every base-stack resource."""
        return {"env": self.base_env}

    @property
    def ecs_security_group(self) -> str:
        return self._fmt("ecs_security_group")

    @property
    def private_subnet_pattern(self) -> str:
        return self._fmt("private_subnet_pattern")

    @property
    def rds_instance(self) -> str:
        return self._fmt("rds_instance")

    @property
    def rds_secret(self) -> str:
        return self._fmt("rds_secret")

    # --- bootstrap -----------------------------------------------------------------------------------------
    @property
    def deploy_lock_table(self) -> str:
        return self._fmt("deploy_lock_table")

    @property
    def state_bucket(self) -> str:
        return self._fmt("state_bucket")


def split_image(image: str) -> tuple[str, str | None]:
    """Split an image reference into (repository URI, tag or None). Digests (``@sha256:``) give tag None."""
    if "@" in image:
        return image.split("@", 1)[0], None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, None


def repository_name(image: str) -> str:
    """``123.dkr.ecr.eu-west-1.amazonaws.com/ublog-backend:v1`` -> ``ublog-backend``."""
    repo, _ = split_image(image)
    return repo.split("/", 1)[1] if "/" in repo and "." in repo.split("/", 1)[0] else repo
