"""Manual rollback: put services back on given task-definition revisions (``inv app.rollback --to FAMILY:REV``).

This is the command every App Update summary prints. It validates every target before changing anything (the
family must be one of the env's service families and the revision must exist), takes the deploy lock, updates the
services at once and waits with the same truthful loop as a rollout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from .aws import Aws, client_error_code
from .config import Config
from .errors import ConfigError, ExitStatus, RefusedError
from .lock import DeployLock
from .naming import SERVICES, Names
from .pipeline import ApplyOptions, _now
from .record import ReleaseRecord, ServiceRecord
from .rollout import ServiceTarget, update_services, wait_for_services

TARGET_RE = re.compile(r"^(?P<family>[A-Za-z0-9_-]{1,255}):(?P<revision>[1-9][0-9]*)$")


def parse_targets(names: Names, targets: list[str]) -> dict[str, str]:
    """``["alpha-gunicorn:12", …]`` → {service key: "family:revision"}; bad input raises ConfigError."""
    families = {names.family(name): name for name in SERVICES}
    parsed: dict[str, str] = {}
    for raw in targets:
        m = TARGET_RE.match(raw.rsplit("/", 1)[-1])
        if not m:
            raise ConfigError(f"bad --to {raw!r}", hint="use FAMILY:REVISION, e.g. alpha-gunicorn:12")
        name = families.get(m["family"])
        if name is None:
            raise ConfigError(
                f"{m['family']} is not a service family of {names.env}",
                hint=f"families: {', '.join(families)}",
            )
        if name in parsed:
            raise ConfigError(f"{m['family']} given twice", hint="give one --to per service")
        parsed[name] = f"{m['family']}:{m['revision']}"
    return parsed


def rollback_to(
    aws: Aws,
    cfg: Config,
    names: Names,
    targets: list[str],
    flags: dict[str, Any],
    *,
    say: Callable[[str], None] = lambda _: None,
    on_poll: Callable[..., None] | None = None,
) -> ReleaseRecord:
    wanted = parse_targets(names, targets)
    options = ApplyOptions.from_config(cfg, **flags)
    ecs = aws.client("ecs")
    arns: dict[str, str] = {}
    for name, family_rev in wanted.items():
        try:
            described = ecs.describe_task_definition(taskDefinition=family_rev)["taskDefinition"]
        except Exception as exc:
            if client_error_code(exc) in ("ClientException", "InvalidParameterException"):
                raise ConfigError(f"task definition {family_rev} does not exist", hint="check --to") from None
            raise
        arns[name] = described["taskDefinitionArn"]
    described = ecs.describe_services(cluster=names.cluster, services=[names.service(n) for n in wanted])
    current = {s["serviceName"]: s for s in described.get("services", []) if s.get("status") == "ACTIVE"}
    missing = [names.service(n) for n in wanted if names.service(n) not in current]
    if missing:
        raise RefusedError(f"service(s) not found in {names.cluster}: {', '.join(missing)}")
    record = ReleaseRecord(
        env=names.env, cluster=names.cluster, inputs={"rollback_to": list(wanted.values())}, started_at=_now()
    )
    plan_targets = []
    for name, arn in arns.items():
        svc = current[names.service(name)]
        desired = svc["desiredCount"] or cfg.desired_count(name)
        plan_targets.append(ServiceTarget(svc["serviceName"], arn, desired, svc["taskDefinition"]))
        record.services[name] = ServiceRecord(name, svc["serviceName"], svc["taskDefinition"], arn, desired)
    by_service = {t.service: n for n, t in zip(arns, plan_targets, strict=True)}
    lock = DeployLock(aws.client("dynamodb"), cfg.lock_table, names.env, ttl=int(cfg.get("lock.ttl", 3600)))
    started = time.monotonic()
    lock.acquire()
    try:
        say("rolling back " + ", ".join(f"{t.service} → {t.task_definition.rsplit('/', 1)[-1]}" for t in plan_targets))
        update_services(ecs, names.cluster, plan_targets)
        outcomes = wait_for_services(
            ecs,
            names.cluster,
            plan_targets,
            timeout=options.timeout,
            stall_timeout=options.stall_timeout,
            poll_interval=options.poll_interval,
            on_poll=on_poll,
            fail_fast=False,  # a rollback wants every service's outcome
        )
    finally:
        lock.release()
    for service, outcome in outcomes.items():
        rec = record.services[by_service[service]]
        rec.state, rec.reason = outcome.state, outcome.reason
        rec.last_events = list(outcome.last_events)[-5:]
    bad = [o for o in outcomes.values() if not o.ok]
    if bad:
        record.finish(
            ExitStatus.NOT_ROLLED_BACK,
            "rollback failed",
            "rollback failed: " + ", ".join(f"{o.service}: {o.state}" for o in bad),
            f"inspect with `inv app.status --env {names.env}`",
        )
    else:
        record.finish(ExitStatus.OK, "rolled back")
    record.finished_at = _now()
    record.seconds = round(time.monotonic() - started, 1)
    return record
