"""App Update orchestration: carry out a :class:`~ublog_ops.plan.ReleasePlan`.

``apply_plan`` = drift check → deploy lock → register the rendered revisions → pre-update one-off task (logs
streamed, exit codes checked) → update every service at once → one polling loop until each is truly done →
coordinated rollback of every updated service on failure → a :class:`~ublog_ops.record.ReleaseRecord` that says
exactly what happened. ``inv app.update`` is ``make_plan`` + ``apply_plan``.

Nothing here prints directly: callers pass ``say`` (step headlines), ``on_line`` (pre-update log lines) and
``on_poll`` (rollout progress), so the same code serves the terminal, CI and tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .aws import Aws
from .config import Config
from .errors import ExitStatus, Interrupted, RefusedError, RolloutFailed
from .lock import DeployLock
from .naming import PRE_UPDATE
from .oneoff import OneOffResult, run_one_off
from .plan import ReleasePlan, check_drift
from .record import LAST_LINES, PreUpdateRecord, ReleaseRecord, ServiceRecord
from .rollout import ServiceOutcome, ServiceTarget, rollback, update_services, wait_for_services
from .taskdef import register

Say = Callable[[str], None]


@dataclass(frozen=True)
class ApplyOptions:
    rollback: bool = True
    timeout: float = 1800
    stall_timeout: float = 600
    pre_update_timeout: float = 1800
    poll_interval: float = 6.0
    force_unlock: bool = False

    @classmethod
    def from_config(cls, cfg: Config, **flags: Any) -> ApplyOptions:
        given = {k: v for k, v in flags.items() if v is not None}
        return cls(
            rollback=given.get("rollback", True),
            timeout=float(given.get("timeout", cfg.get("rollout.timeout", 1800))),
            stall_timeout=float(given.get("stall_timeout", cfg.get("rollout.stall_timeout", 600))),
            pre_update_timeout=float(given.get("pre_update_timeout", cfg.get("pre_update.timeout", 1800))),
            poll_interval=float(given.get("poll_interval", cfg.get("rollout.poll_interval", 6.0))),
            force_unlock=bool(given.get("force_unlock", False)),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quiet(_: str) -> None:
    return None


def new_record(plan: ReleasePlan) -> ReleaseRecord:
    record = ReleaseRecord(
        env=plan.env,
        cluster=plan.cluster,
        inputs=dict(plan.inputs),
        images={kind: {k: v for k, v in img.items() if k != "uri"} for kind, img in plan.images.items()},
        started_at=_now(),
    )
    for name, svc in plan.services.items():
        record.services[name] = ServiceRecord(
            name=name,
            service=svc["service"],
            old_task_definition=svc["current_task_definition"],
            desired_count=svc["target_desired"],
        )
    return record


def apply_plan(
    aws: Aws,
    cfg: Config,
    plan: ReleasePlan,
    options: ApplyOptions,
    *,
    say: Say = _quiet,
    on_line: Say = _quiet,
    on_poll: Callable[..., None] | None = None,
) -> ReleaseRecord:
    """Carry out ``plan``. Never raises for an outcome: the record's ``status`` is the exit status."""
    record = new_record(plan)
    started = time.monotonic()
    try:
        _apply(aws, cfg, plan, options, record, say, on_line, on_poll)
    except RefusedError as exc:
        record.finish(ExitStatus.REFUSED, "refused", exc.message, exc.hint)
    except (KeyboardInterrupt, Interrupted) as exc:
        result = getattr(exc, "result", None)
        if result is not None and record.pre_update is None:
            record.pre_update = _pre_update_record(result, result.task_definition_arn)
        touched = [s.service for s in record.services.values() if s.new_task_definition]
        hint = (
            f"services already updated keep rolling in ECS: {', '.join(touched)}; check `inv app.status --env "
            f"{plan.env}` or roll back with `{record.rollback_command()}`"
            if touched
            else "no service was touched"
        )
        what = "interrupted during the rollout" if touched else "interrupted; a running pre-update task was stopped"
        record.finish(ExitStatus.INTERRUPTED, "interrupted", what, hint)
    except Exception as exc:  # noqa: BLE001 - an AWS/network error mid-run: still report what was done, how to undo
        touched = [s.service for s in record.services.values() if s.new_task_definition]
        hint = (
            f"services already updated: {', '.join(touched)}; check `inv app.status --env {plan.env}` or roll back "
            f"with `{record.rollback_command()}` (--debug shows the traceback)"
            if touched
            else "no service was touched; rerun with --debug for the traceback"
        )
        record.finish(ExitStatus.ERROR, "error", f"{type(exc).__name__}: {exc}", hint)
        record.cause = exc  # type: ignore[attr-defined]  # not serialized; chained by record.error()
    finally:
        record.finished_at = _now()
        record.seconds = round(time.monotonic() - started, 1)
    return record


def _apply(
    aws: Aws,
    cfg: Config,
    plan: ReleasePlan,
    options: ApplyOptions,
    record: ReleaseRecord,
    say: Say,
    on_line: Say,
    on_poll: Callable[..., None] | None,
) -> None:
    say(f"checking that live state still matches the plan for {plan.env}")
    check_drift(aws, plan)
    lock = DeployLock(aws.client("dynamodb"), cfg.lock_table, plan.env, ttl=int(cfg.get("lock.ttl", 3600)))
    if options.force_unlock:
        lock.force_unlock()
    lock.acquire()
    keep = _LockKeeper(lock, say)
    on_poll = keep.wrap(on_poll)
    try:
        ecs = aws.client("ecs")
        new_arns: dict[str, str] = {}
        for name, fam in plan.families.items():
            new_arns[name] = register(ecs, fam["rendered"])
            say(f"registered {new_arns[name].rsplit('/', 1)[-1]}")
        if not _pre_update(aws, plan, options, record, new_arns[PRE_UPDATE], say, keep.wrap(on_line)):
            return
        keep.refresh(force=True)
        _rollout(ecs, plan, options, record, new_arns, say, on_poll)
    finally:
        lock.release()


class _LockKeeper:
    """Extends the deploy lock while a long step runs (pre-update, rollout and rollback can each take up to their
    timeouts, longer together than the lock's TTL). Refreshes at most every ``every`` seconds from callbacks."""

    def __init__(self, lock: DeployLock, say: Say, every: float = 60.0) -> None:
        self.lock, self.say, self.every = lock, say, every
        self.last = time.monotonic()
        self.lost = False

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.lost or (not force and now - self.last < self.every):
            return
        self.last = now
        if not self.lock.refresh():
            self.lost = True
            self.say("warning: the deploy lock expired and was taken over by someone else")

    def wrap(self, callback: Callable[..., None] | None) -> Callable[..., None]:
        def wrapped(*args: Any) -> None:
            self.refresh()
            if callback is not None:
                callback(*args)

        return wrapped


def _pre_update(
    aws: Aws,
    plan: ReleasePlan,
    options: ApplyOptions,
    record: ReleaseRecord,
    task_definition: str,
    say: Say,
    on_line: Say,
) -> bool:
    gunicorn = plan.services.get("gunicorn") or next(iter(plan.services.values()))
    command = plan.pre_update.get("command")
    say(f"running pre-update task {task_definition.rsplit('/', 1)[-1]}" + (f": {' '.join(command)}" if command else ""))
    result: OneOffResult = run_one_off(
        aws,
        plan.cluster,
        task_definition,
        gunicorn["network_configuration"],
        command=command,
        timeout=options.pre_update_timeout,
        on_line=on_line,
        definition=plan.families[PRE_UPDATE]["rendered"],
        container=plan.pre_update.get("container"),
        poll_interval=min(2.0, options.poll_interval),
    )
    record.pre_update = _pre_update_record(result, task_definition)
    if result.succeeded:
        say(f"pre-update task {result.task_id} succeeded")
        return True
    for svc in record.services.values():
        svc.state = "NOT_STARTED"
    record.finish(
        ExitStatus.PRE_UPDATE_FAILED,
        "pre-update failed",
        f"pre-update task {result.task_id} failed: {result.failure}",
        "no service was touched; read the task's log lines above, fix the release and run the update again",
    )
    return False


def _pre_update_record(result: OneOffResult, task_definition: str) -> PreUpdateRecord:
    return PreUpdateRecord(
        task_id=result.task_id,
        task_definition=task_definition,
        exit_codes=dict(result.exit_codes),
        succeeded=result.succeeded,
        failure=result.failure,
        stop_code=result.stop_code,
        seconds=_seconds(result.started_at, result.stopped_at),
        line_count=len(result.lines),
        last_lines=list(result.lines[-LAST_LINES:]),
    )


def _rollout(
    ecs: Any,
    plan: ReleasePlan,
    options: ApplyOptions,
    record: ReleaseRecord,
    new_arns: dict[str, str],
    say: Say,
    on_poll: Callable[..., None] | None,
) -> None:
    targets = [
        ServiceTarget(
            service=svc["service"],
            task_definition=new_arns[name],
            desired_count=svc["target_desired"],
            previous_task_definition=svc["current_task_definition"],
        )
        for name, svc in plan.services.items()
    ]
    by_service = {t.service: name for name, t in zip(plan.services, targets, strict=True)}
    say(f"updating {len(targets)} services: {', '.join(t.service for t in targets)}")
    wait = {
        "timeout": options.timeout,
        "stall_timeout": options.stall_timeout,
        "poll_interval": options.poll_interval,
        "on_poll": on_poll,
    }
    for t in targets:
        record.services[by_service[t.service]].new_task_definition = t.task_definition
    try:
        update_services(ecs, plan.cluster, targets)
    except RolloutFailed as exc:  # one UpdateService call failed: undo exactly the ones before it
        updated = set(getattr(exc, "updated", []))
        for t in targets:
            if t.service not in updated:
                svc = record.services[by_service[t.service]]
                svc.new_task_definition, svc.state, svc.reason = None, "NOT_STARTED", exc.message
        partial = [t for t in targets if t.service in updated]
        if not partial or not options.rollback:
            record.finish(
                ExitStatus.NOT_ROLLED_BACK,
                "failed, not rolled back",
                exc.message,
                f"roll back with: {record.rollback_command()}" if partial else "no service was changed",
            )
            return
        _roll_back(ecs, plan, record, by_service, partial, wait, exc.message, say, None)
        return
    outcomes = wait_for_services(ecs, plan.cluster, targets, **wait)
    _fill(record, by_service, outcomes)
    failed = [o for o in outcomes.values() if not o.ok]
    if not failed:
        record.finish(ExitStatus.OK, "succeeded")
        return
    what = summarize_failures(failed)
    if not options.rollback:
        record.finish(
            ExitStatus.NOT_ROLLED_BACK,
            "failed, not rolled back",
            f"rollout failed: {what}",
            f"--no-rollback was given; to roll back run: {record.rollback_command()}",
        )
        return
    _roll_back(ecs, plan, record, by_service, targets, wait, f"rollout failed: {what}", say, outcomes)


def _roll_back(
    ecs: Any,
    plan: ReleasePlan,
    record: ReleaseRecord,
    by_service: dict[str, str],
    targets: list[ServiceTarget],
    wait: dict[str, Any],
    what: str,
    say: Say,
    outcomes: dict[str, ServiceOutcome] | None,
) -> None:
    say(f"{what}; rolling back {len(targets)} services")
    back = rollback(ecs, plan.cluster, targets, outcomes, **wait)  # outcomes: events already shown stay shown once
    for service, outcome in back.items():
        record.services[by_service[service]].rollback_state = outcome.state
    not_back = [o for o in back.values() if not o.ok]
    if not_back:
        record.finish(
            ExitStatus.NOT_ROLLED_BACK,
            "failed, rollback failed",
            f"{what}; rollback failed: {summarize_failures(not_back)}",
            f"inspect with `inv app.status --env {plan.env}`; retry with `{record.rollback_command()}`",
        )
        return
    record.finish(
        ExitStatus.ROLLED_BACK,
        "rolled back",
        f"{what}; every updated service is back on its previous revision",
        f"inspect the events above and `inv app.status --env {plan.env}`",
    )


def summarize_failures(failed: list[ServiceOutcome]) -> str:
    """One short clause per failure state: ``alpha-gunicorn, alpha-beat ROLLED_BACK_BY_ECS (reason); …``."""
    groups: dict[str, list[ServiceOutcome]] = {}
    decided = [o for o in failed if o.state != "ABORTED"] or failed  # ABORTED = not waited for after another failed
    for outcome in decided:
        groups.setdefault(outcome.state, []).append(outcome)
    parts = []
    for state, outcomes in groups.items():
        reason = outcomes[0].reason
        parts.append(f"{', '.join(o.service for o in outcomes)} {state}" + (f" ({reason})" if reason else ""))
    aborted = [o.service for o in failed if o not in decided]
    if aborted:
        parts.append(f"not waited for after that: {', '.join(aborted)}")
    return "; ".join(parts)


def _fill(record: ReleaseRecord, by_service: dict[str, str], outcomes: dict[str, ServiceOutcome]) -> None:
    for service, o in outcomes.items():
        svc = record.services[by_service[service]]
        svc.state = o.state
        svc.reason = o.reason
        svc.seconds = _seconds(o.started_at, o.finished_at)
        svc.last_events = list(o.last_events)[-5:]
        svc.stopped_reasons = list(o.stopped_reasons)[-5:]


def _seconds(start: Any, end: Any) -> float | None:
    if start is None or end is None:
        return None
    try:
        return round(float((end - start).total_seconds()), 1)
    except AttributeError:
        return round(float(end) - float(start), 1)
