"""The release plan: what an App Update will do, computed with reads only, approvable, and replayable exactly.

:func:`make_plan` = :func:`ublog_ops.preflight.preflight` + for each family the latest ACTIVE revision of exactly
that family (:func:`ublog_ops.taskdef.latest_definition`) rendered with the release images + per-family diffs +
per-service targets (desired count kept when > 0, else ``Config.desired_count``). It makes no mutating AWS call.

:class:`ReleasePlan` round-trips through JSON (``FORMAT_VERSION``). A saved plan holds NO environment values and no
secret references by default (:meth:`ReleasePlan.save` masks them): plan files get attached to pull requests and CI
artifacts. That loses nothing: task-definition revisions are immutable, so :func:`check_drift` (in
:mod:`ublog_ops.drift`), which ``app.apply`` runs first, re-renders each family's planned revision with the planned
images, checks that it equals the plan (masked side by side) and puts the values back. A plan whose revision, service
or image moved since is refused (exit 3) with every drift named.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .aws import Aws
from .config import Config
from .errors import ConfigError, RefusedError
from .lock import default_owner
from .naming import FAMILIES, PRE_UPDATE, SERVICES, Names
from .preflight import preflight
from .taskdef import diff, image_containers, latest_definition, mask_values, render

FORMAT_VERSION = 1
#: A plan made by :func:`make_plan` in this process less than this many seconds ago is not re-read by check_drift.
FRESH_SECONDS = 120.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def revision_of(arn: str | None) -> int | None:
    """``arn:…:task-definition/alpha-gunicorn:7`` -> 7."""
    if not arn or ":" not in arn.rsplit("/", 1)[-1]:
        return None
    try:
        return int(arn.rsplit(":", 1)[-1])
    except ValueError:
        return None


def short(arn: str | None) -> str:
    """``arn:…:task-definition/alpha-gunicorn:7`` -> ``alpha-gunicorn:7``."""
    return (arn or "?").rsplit("/", 1)[-1]


@dataclass
class ReleasePlan:
    """A release plan (see module docstring). ``families``/``services`` are keyed by the short name (``gunicorn``)."""

    env: str
    base_env: str
    created_at: str
    created_by: str
    inputs: dict[str, Any]
    account: str
    region: str
    cluster: str
    images: dict[str, dict[str, Any]]
    families: dict[str, dict[str, Any]]
    services: dict[str, dict[str, Any]]
    pre_update: dict[str, Any]
    identity_arn: str = ""
    warnings: list[str] = field(default_factory=list)
    redacted: bool = False
    version: int = FORMAT_VERSION
    #: monotonic time when make_plan built it in this process (never serialized)
    made_at: float | None = field(default=None, compare=False, repr=False)

    # --- JSON round trip ----------------------------------------------------------------------------------------
    def to_dict(self, redact: bool = False) -> dict[str, Any]:
        """A JSON-ready dict. ``redact`` masks environment values and secret references (and drops unmasked diffs)."""
        families = {}
        for name, entry in self.families.items():
            fam = dict(entry)
            if redact:
                fam["rendered"] = mask_values(fam["rendered"])
                for key in [k for k in fam if k.endswith("_values")]:
                    del fam[key]
            families[name] = fam
        return {
            "version": self.version,
            "kind": "ublog-ops/release-plan",
            "env": self.env,
            "base_env": self.base_env,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "identity_arn": self.identity_arn,
            "inputs": dict(self.inputs),
            "account": self.account,
            "region": self.region,
            "cluster": self.cluster,
            "images": {k: dict(v) for k, v in self.images.items()},
            "families": json.loads(json.dumps(families, default=str)),
            "services": json.loads(json.dumps(self.services, default=str)),
            "pre_update": dict(self.pre_update),
            "warnings": list(self.warnings),
            "redacted": self.redacted or redact,
        }

    def to_json(self, redact: bool = True) -> str:
        return json.dumps(self.to_dict(redact=redact), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReleasePlan:
        if not isinstance(data, Mapping) or data.get("kind", "ublog-ops/release-plan") != "ublog-ops/release-plan":
            raise ConfigError("not a ublog-ops release plan", hint="write one with `inv app.plan … --out FILE`")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"release plan format version {version!r} is not supported (expected {FORMAT_VERSION})",
                hint="make a new plan with this version of ublog-ops",
            )
        required = ("env", "base_env", "inputs", "account", "region", "cluster", "images", "families", "services")
        missing = [k for k in required if k not in data]
        if missing:
            raise ConfigError(f"release plan lacks {', '.join(missing)}", hint="make a new plan")
        for name, fam in data["families"].items():
            if not isinstance(fam, Mapping) or not {"family", "current_arn", "rendered"} <= set(fam):
                raise ConfigError(f"release plan family {name!r} is incomplete", hint="make a new plan")
        for name, svc in data["services"].items():
            need = {"service", "current_task_definition", "current_desired", "target_desired"}
            if not isinstance(svc, Mapping) or not need <= set(svc):
                raise ConfigError(f"release plan service {name!r} is incomplete", hint="make a new plan")
        Names(env=data["env"], base_env=data["base_env"])  # env names valid
        return cls(
            env=data["env"],
            base_env=data["base_env"],
            created_at=data.get("created_at", ""),
            created_by=data.get("created_by", ""),
            inputs=dict(data["inputs"]),
            account=data["account"],
            region=data["region"],
            cluster=data["cluster"],
            images={k: dict(v) for k, v in data["images"].items()},
            families={k: dict(v) for k, v in data["families"].items()},
            services={k: dict(v) for k, v in data["services"].items()},
            pre_update=dict(data.get("pre_update") or {}),
            identity_arn=data.get("identity_arn", ""),
            warnings=list(data.get("warnings") or []),
            redacted=bool(data.get("redacted", False)),
            version=version,
        )

    def save(self, path: str | os.PathLike[str], redact: bool = True) -> Path:
        """Write the plan as JSON (atomically, mode 0600). Values are masked unless ``redact=False``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json(redact=redact))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReleasePlan:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no plan file {path}", hint="write one with `inv app.plan … --out FILE`") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read release plan {path}: {exc}", hint="make a new plan") from None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"release plan {path} is malformed ({exc})", hint="make a new plan") from None

    # --- helpers for callers ------------------------------------------------------------------------------------
    def image_map(self) -> dict[str, str]:
        """ECR repository -> image URI of this release (the ``images`` argument of :func:`taskdef.render`)."""
        return {img["repository"]: img["uri"] for img in self.images.values()}

    def rollback_targets(self) -> list[str]:
        """``family:revision`` each service runs now (what ``inv app.rollback --to`` takes)."""
        return [short(s["current_task_definition"]) for s in self.services.values()]


def pre_update_command(cfg: Config) -> list[str] | None:
    """``ublog.pre_update.command`` as a list (a string is split with shell rules), or None for the definition's."""
    raw = cfg.get("pre_update.command")
    if raw in (None, "", []):
        return None
    if isinstance(raw, str):
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise ConfigError(f"pre_update.command {raw!r} cannot be parsed: {exc}", hint="fix the quoting") from None
        return words or None
    if isinstance(raw, (list, tuple)) and all(isinstance(w, str) for w in raw):
        return list(raw)
    raise ConfigError("pre_update.command must be a string or a list of strings", hint="see .env.example")


def desired_counts(cfg: Config) -> dict[str, int]:
    """``ublog.desired_counts`` per service (used for services at 0); ConfigError unless each is an int >= 1."""
    counts = {}
    for name in SERVICES:
        try:
            counts[name] = cfg.desired_count(name)
        except (TypeError, ValueError):
            raise ConfigError(f"desired count for {name} is not a number", hint=f"fix desired_counts.{name}") from None
        if counts[name] < 1:
            raise ConfigError(f"desired count for {name} is {counts[name]}", hint=f"set desired_counts.{name} >= 1")
    return counts


def _diff_from_running(ecs: Any, fam: dict[str, Any], running_arn: str | None, show_values: bool) -> None:
    """The service runs an older (or other) revision than the family's latest: also diff against what it runs."""
    if not running_arn:
        return
    described = ecs.describe_task_definition(taskDefinition=running_arn, include=["TAGS"])
    before = render(described, {})
    fam["running_arn"] = running_arn
    fam["diff_from_running"] = diff(before, fam["rendered"], show_values=False)
    if show_values:
        fam["diff_from_running_values"] = diff(before, fam["rendered"], show_values=True)


def make_plan(
    aws: Aws,
    cfg: Config,
    tag: str,
    frontend_tag: str | None = None,
    backend_only: bool = False,
    force: bool = False,
    show_values: bool = False,
) -> ReleasePlan:
    """Preflight + render: the release plan for ``tag``. Makes no mutating AWS call."""
    command = pre_update_command(cfg)  # config errors before any AWS call
    configured = desired_counts(cfg)
    pf = preflight(aws, cfg, tag, frontend_tag=frontend_tag, backend_only=backend_only, force=force)
    names: Names = cfg.names()
    ecs = aws.client("ecs")
    kinds = set(pf.images)
    image_map = {ref.repository: ref.uri for ref in pf.images.values()}
    warnings = list(pf.warnings)
    families: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name, kind in FAMILIES.items():
        if kind not in kinds:
            continue
        family = names.family(name)
        described = latest_definition(ecs, family)
        td = described["taskDefinition"]
        repository = pf.images[kind].repository
        containers = image_containers(described, repository)
        if not containers:
            problems.append(f"no container of {family} runs an image of {repository}")
            continue
        before = render(described, {})
        after = render(described, image_map)
        entry: dict[str, Any] = {
            "family": family,
            "kind": kind,
            "current_arn": td["taskDefinitionArn"],
            "current_revision": td.get("revision") or revision_of(td["taskDefinitionArn"]),
            "containers": containers,
            "current_images": {c["name"]: c.get("image") for c in td.get("containerDefinitions", [])},
            "rendered": after,
            "diff": diff(before, after, show_values=False),
        }
        if show_values:
            entry["diff_values"] = diff(before, after, show_values=True)
        families[name] = entry
    if problems:
        raise RefusedError("; ".join(problems), hint="check the task definitions' images against the ECR prefix")

    services: dict[str, dict[str, Any]] = {}
    for name in SERVICES:
        if SERVICES[name] not in kinds:
            continue
        svc = pf.services[name]
        current = int(svc.get("desiredCount", 0))
        target = current if current > 0 else configured[name]
        running_td = svc.get("taskDefinition")
        latest = families[name]["current_arn"]
        if running_td != latest:
            warnings.append(
                f"{svc['serviceName']} runs {short(running_td)}, the family's latest is {short(latest)}: "
                f"the new revision is rendered from {short(latest)}"
            )
            _diff_from_running(ecs, families[name], running_td, show_values)
        services[name] = {
            "service": svc["serviceName"],
            "family": families[name]["family"],
            "current_task_definition": running_td,
            "current_desired": current,
            "target_desired": target,
            "desired_from": "current" if current > 0 else "config",
            "running": svc.get("runningCount"),
            "pending": svc.get("pendingCount"),
            "network_configuration": svc.get("networkConfiguration") or {},
        }

    pre = families[PRE_UPDATE]
    pre_container = _essential_container(pre["rendered"], pre["containers"])
    default_command = next(
        (c.get("command") for c in pre["rendered"]["containerDefinitions"] if c["name"] == pre_container), None
    )
    plan = ReleasePlan(
        env=pf.env,
        base_env=names.base_env,
        created_at=_now(),
        created_by=default_owner(),
        identity_arn=pf.identity_arn,
        inputs={"tag": tag, "frontend_tag": frontend_tag, "backend_only": backend_only, "force": force},
        account=pf.account,
        region=pf.region,
        cluster=pf.cluster,
        images={kind: ref.to_dict() for kind, ref in pf.images.items()},
        families=families,
        services=services,
        pre_update={
            "family": pre["family"],
            "container": pre_container,
            "command": command,
            "definition_command": default_command,
        },
        warnings=warnings,
    )
    plan.made_at = time.monotonic()
    return plan


def _essential_container(rendered: Mapping[str, Any], candidates: list[str]) -> str:
    by_name = {c["name"]: c for c in rendered.get("containerDefinitions", [])}
    essential = [n for n in candidates if by_name.get(n, {}).get("essential", True)]
    return (essential or candidates)[0]


def check_drift(aws: Aws, plan: ReleasePlan, *, reuse_fresh: bool = True) -> None:
    """Refuse (RefusedError, exit 3) when live state moved since ``plan`` was made, naming every drift; restore a
    saved plan's masked values in place. See :mod:`ublog_ops.drift`.

    A plan made by :func:`make_plan` in this process less than :data:`FRESH_SECONDS` ago was read moments ago and is
    not read again (``reuse_fresh=False`` forces the check).
    """
    from .drift import check_drift as _check_drift

    _check_drift(aws, plan, reuse_fresh=reuse_fresh)


def replan_command(plan: ReleasePlan) -> str:
    """The ``inv app.plan`` command that makes this plan again from today's state."""
    from .drift import replan_command as _replan

    return _replan(plan)


# --- human view ---------------------------------------------------------------------------------------------------


def describe_plan(plan: ReleasePlan) -> str:
    """The plan as a human reads it before approving it (no values unless the plan was made with show_values)."""
    lines = [
        f"Release plan for {plan.env} (base {plan.base_env}) — account {plan.account}, {plan.region}, "
        f"cluster {plan.cluster}",
        f"made {plan.created_at} by {plan.created_by}",
        "",
    ]
    registries = {img["uri"].split("/", 1)[0] for img in plan.images.values() if "/" in img["uri"]}
    registry = registries.pop() if len(registries) == 1 else None
    lines.append(f"Images (registry {registry}, shown as …/ below):" if registry else "Images:")
    for kind, img in plan.images.items():
        lines.append(f"  {kind:<9} {img['repository']}:{img['tag']}  {img['digest']}")
    lines += ["", "Task definitions (a new revision of each is registered; none is deregistered):"]
    for fam in plan.families.values():
        changes = fam.get("diff_values") or fam.get("diff") or []
        if registry:
            changes = [c.replace(f"{registry}/", "…/") for c in changes]
        lines.append(f"  {short(fam['current_arn'])} -> {fam['family']}:<new>  ({len(changes)} change(s))")
        lines += [f"      {c}" for c in changes] or ["      no field changes (same image)"]
        if fam.get("running_arn"):
            running = fam.get("diff_from_running_values") or fam.get("diff_from_running") or []
            if registry:
                running = [c.replace(f"{registry}/", "…/") for c in running]
            lines.append(f"    the service runs {short(fam['running_arn'])}; compared with that:")
            lines += [f"      {c}" for c in running]
    pre = plan.pre_update
    if pre:
        if pre.get("command"):
            cmd = f"command override: {shlex.join(pre['command'])}"
        elif pre.get("definition_command"):
            cmd = f"command: {shlex.join(pre['definition_command'])}"
        else:
            cmd = "the image's default command"
        lines += ["", f"Pre-update: one task of {pre['family']} (container {pre['container']}), {cmd}"]
        lines.append("  on failure nothing else happens: no service is touched")
    lines += ["", "Services (updated together, waited for in one loop; rolled back together on failure):"]
    width = max((len(s["service"]) for s in plan.services.values()), default=0)
    for svc in plan.services.values():
        count = (
            f"desired {svc['target_desired']} (kept)"
            if svc.get("desired_from", "current") == "current"
            else f"desired {svc['current_desired']} -> {svc['target_desired']} (from config)"
        )
        lines.append(f"  {svc['service']:<{width}}  {short(svc['current_task_definition'])} -> new revision, {count}")
    if plan.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in plan.warnings]
    return "\n".join(lines)
