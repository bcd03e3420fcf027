"""Preflight of an App Update: everything that must hold before anything changes — and it changes nothing.

Order: bad input (env, tags, flags) is rejected before the first AWS call (:class:`ConfigError`, exit 2). Then,
with reads only: caller identity (STS); each release tag exists in its ECR repository and is resolved to its digest
(one DescribeImages per repository); every service of the env exists and is ACTIVE (one DescribeServices — a missing
or inactive cluster shows up here, and only then is DescribeClusters asked why); no deployment of them is in
progress (unless ``force``); the env's deploy lock is free or expired (one GetItem). Every problem found is
reported in ONE :class:`RefusedError` (exit 3), so a user fixes them all in one go.

:func:`preflight` never calls a mutating API; tests assert that on :attr:`ublog_ops.aws.Aws.calls`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .aws import Aws, client_error_code
from .config import Config
from .errors import ConfigError, RefusedError, UblogError
from .lock import DeployLock
from .naming import BACKEND, FAMILIES, FRONTEND, SERVICES, Names, NamingError, validate_tag

#: Credential problems: bad config (exit 2), not a refusal.
CREDENTIAL_ERRORS = ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException")


@dataclass(frozen=True)
class ImageRef:
    """A release image: ECR repository, tag, the digest the tag points at, and the URI rendered into definitions."""

    kind: str
    repository: str
    tag: str
    digest: str
    uri: str
    registry_id: str = ""
    pushed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "uri": self.uri,
            "registry_id": self.registry_id,
            "pushed_at": self.pushed_at,
        }


@dataclass
class Preflight:
    """What preflight found. ``services`` maps the service key (``gunicorn``) to its DescribeServices entry."""

    env: str
    account: str
    region: str
    identity_arn: str
    cluster: str
    images: dict[str, ImageRef]
    services: dict[str, dict[str, Any]]
    lock_holder: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Inputs:
    """Validated release inputs."""

    tag: str
    frontend_tag: str | None
    backend_only: bool

    @property
    def kinds(self) -> tuple[str, ...]:
        return (BACKEND,) if self.backend_only else (BACKEND, FRONTEND)

    def tag_for(self, kind: str) -> str:
        return self.frontend_tag or self.tag if kind == FRONTEND else self.tag

    @property
    def services(self) -> list[str]:
        return [name for name, kind in SERVICES.items() if kind in self.kinds]


def validate_inputs(cfg: Config, tag: str | None, frontend_tag: str | None, backend_only: bool) -> Inputs:
    """Check env, names and tags with no AWS call at all; ConfigError (exit 2) on bad input."""
    names = cfg.names()  # env, base env, prefix and name overrides
    try:  # templates are formatted lazily: make every name this pipeline uses now, before any AWS call
        made = [names.cluster, cfg.lock_table, *(names.ecr_repository(k) for k in (BACKEND, FRONTEND))]
        made += [f(n) for n in FAMILIES for f in (names.family, names.container, names.log_group)]
        made += [names.service(n) for n in SERVICES]
        del made
    except NamingError as exc:
        raise ConfigError(str(exc), hint="check ublog.names / UBLOG_ECR_PREFIX") from None
    if not tag:
        raise ConfigError("no image tag given", hint="pass --tag v1.2.3")
    if backend_only and frontend_tag:
        raise ConfigError("--frontend-tag and --backend-only contradict each other", hint="give one of them")
    try:
        validate_tag(tag)
        if frontend_tag:
            validate_tag(frontend_tag)
    except NamingError as exc:
        raise ConfigError(str(exc), hint="tags look like v1.2.3") from None
    return Inputs(tag, frontend_tag, backend_only)


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str | None]] = []

    def add(self, message: str, hint: str | None = None) -> None:
        self.items.append((message, hint))

    def raise_if_any(self, env: str) -> None:
        if not self.items:
            return
        hints = list(dict.fromkeys(h for _, h in self.items if h))
        raise RefusedError(
            f"preflight refused for {env}: " + "; ".join(m for m, _ in self.items),
            hint="; ".join(hints) or None,
        )


def caller_identity(aws: Aws) -> dict[str, str]:
    """STS GetCallerIdentity; credential problems become ConfigError (exit 2) with a hint."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    try:
        return aws.client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError):
        raise ConfigError("no AWS credentials found", hint="log in (aws sso login) or set AWS_PROFILE") from None
    except NoRegionError:
        raise ConfigError("no AWS region configured", hint="set UBLOG_AWS_REGION or AWS_REGION") from None
    except Exception as exc:
        if client_error_code(exc) in CREDENTIAL_ERRORS:
            raise ConfigError(f"AWS credentials rejected: {client_error_code(exc)}", hint="log in again") from None
        raise


def describe_image(ecr: Any, repository: str, tag: str) -> dict[str, Any]:
    """DescribeImages for one tag (one call): the image detail; RefusedError if the tag or repository is missing."""
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except Exception as exc:
        code = client_error_code(exc)
        if code == "ImageNotFoundException":
            raise RefusedError(
                f"tag {tag} not found in ECR repository {repository}",
                hint="push the image first (or check the tag)",
            ) from None
        if code == "RepositoryNotFoundException":
            raise RefusedError(
                f"ECR repository {repository} not found", hint="check UBLOG_ECR_PREFIX / the base stack"
            ) from None
        raise
    if not details:
        raise RefusedError(f"tag {tag} not found in ECR repository {repository}", hint="push the image first")
    return details[0]


def resolve_image(ecr: Any, names: Names, kind: str, tag: str, region: str) -> ImageRef:
    """The kind's release image: ``tag`` resolved to its digest, and the URI rendered into task definitions."""
    repository = names.ecr_repository(kind)
    detail = describe_image(ecr, repository, tag)
    registry = detail.get("registryId") or ""
    pushed = detail.get("imagePushedAt")
    return ImageRef(
        kind=kind,
        repository=repository,
        tag=tag,
        digest=detail["imageDigest"],
        uri=names.image(kind, tag, registry, region),
        registry_id=registry,
        pushed_at=pushed.isoformat() if isinstance(pushed, datetime) else pushed,
    )


def deployment_in_progress(service: Mapping[str, Any]) -> str | None:
    """Why a described service is mid-deployment (more than one deployment, or the primary still rolling), or None."""
    deployments = service.get("deployments") or []
    if len(deployments) > 1:
        return f"{len(deployments)} deployments"
    for d in deployments:
        if d.get("status") == "PRIMARY" and d.get("rolloutState") == "IN_PROGRESS":
            return "rollout IN_PROGRESS"
    return None


def describe_services(ecs: Any, cluster: str, names: Names, services: list[str], problems: _Problems) -> dict:
    """Services by key (one DescribeServices per 10); missing/inactive ones and a missing cluster go to problems."""
    found: dict[str, dict[str, Any]] = {}
    wanted = {names.service(s): s for s in services}
    arns = list(wanted)
    for i in range(0, len(arns), 10):
        try:
            out = ecs.describe_services(cluster=cluster, services=arns[i : i + 10])
        except Exception as exc:
            if client_error_code(exc) == "ClusterNotFoundException":
                problems.add(f"cluster {cluster} not found", "deploy the app stack (inv tf.apply --stack app)")
                return found
            raise
        for svc in out.get("services", []):
            if svc.get("serviceName") in wanted:
                found[wanted[svc["serviceName"]]] = svc
    missing = [n for n, key in wanted.items() if key not in found or found[key].get("status") != "ACTIVE"]
    if missing and len(missing) == len(wanted):
        status = _cluster_status(ecs, cluster)
        if status != "ACTIVE":
            problems.add(f"cluster {cluster} is {status}", "deploy the app stack (inv tf.apply --stack app)")
            return found
    for name in missing:
        key = wanted[name]
        status = found[key].get("status", "MISSING") if key in found else "MISSING"
        problems.add(f"service {name} is {status} in {cluster}", "deploy the app stack (inv tf.apply --stack app)")
    return found


def _cluster_status(ecs: Any, cluster: str) -> str:
    clusters = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    return clusters[0].get("status", "MISSING") if clusters else "MISSING"


def preflight(
    aws: Aws,
    cfg: Config,
    tag: str,
    frontend_tag: str | None = None,
    backend_only: bool = False,
    force: bool = False,
    check_lock: bool = True,
) -> Preflight:
    """Check that an update to ``tag`` can start, with reads only. Raises ConfigError (2) or RefusedError (3)."""
    inputs = validate_inputs(cfg, tag, frontend_tag, backend_only)
    names = cfg.names()
    env = names.env
    identity = caller_identity(aws)
    region = aws.region
    if not region:
        raise ConfigError("no AWS region configured", hint="set UBLOG_AWS_REGION or AWS_REGION")
    problems = _Problems()
    warnings: list[str] = []

    images: dict[str, ImageRef] = {}
    ecr = aws.client("ecr")
    for kind in inputs.kinds:
        try:
            images[kind] = resolve_image(ecr, names, kind, inputs.tag_for(kind), region)
        except RefusedError as exc:
            problems.add(exc.message, exc.hint)

    ecs = aws.client("ecs")
    services = describe_services(ecs, names.cluster, names, inputs.services, problems)
    for svc in services.values():
        if svc.get("status") != "ACTIVE":
            continue
        busy = deployment_in_progress(svc)
        if busy and force:
            warnings.append(f"{svc['serviceName']} has a deployment in progress ({busy}); going ahead (--force)")
        elif busy:
            problems.add(
                f"{svc['serviceName']} has a deployment in progress ({busy})",
                f"wait for it (inv app.status --env {env}) or pass --force",
            )

    holder = None
    if check_lock:
        lock = DeployLock(aws.client("dynamodb"), cfg.lock_table, env)
        try:
            holder = lock.holder()
        except UblogError as exc:
            problems.add(exc.message, exc.hint)
        if holder and not holder["expired"]:
            held = lock.held_error(holder)
            problems.add(held.message, held.hint)
        if holder and holder["expired"]:
            warnings.append(
                f"the expired deploy lock of {holder['owner']} (since {holder['since']}) will be taken over"
            )

    problems.raise_if_any(env)
    return Preflight(
        env=env,
        account=identity["Account"],
        region=region,
        identity_arn=identity["Arn"],
        cluster=names.cluster,
        images=images,
        services=services,
        lock_holder=holder,
        warnings=warnings,
    )
