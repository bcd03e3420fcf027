"""Update ECS services and wait for them truthfully, in one polling loop; roll them back.

A service is done only when its PRIMARY deployment runs the target revision with ``rolloutState`` COMPLETED
(where ECS reports one), running == desired, and it is the only deployment (botocore's ``services_stable`` only
compares counts, so it reports success after ECS rolled a failed deployment back). The wait fails within one poll
when our deployment's rollout is FAILED or when the primary deployment is no longer ours (ECS's circuit breaker
rolled the service back, or another deploy replaced ours); when a service made no progress for ``stall_timeout``;
and at ``timeout``, a real deadline. All services share ONE loop: DescribeServices in batches of at most 10, a
jittered interval between polls.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .aws import client_error_code
from .errors import ExitStatus, RolloutFailed

BATCH = 10  #: DescribeServices accepts at most 10 services per call
#: Words of the service events ECS writes when its circuit breaker fails a deployment and rolls it back.
ROLLBACK_WORDS = ("rolling back", "deployment failed", "circuit breaker")
LAST_EVENTS = 10
STOPPED_TASKS = 5

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"  #: our rollout FAILED and ECS does not roll back (circuit breaker without rollback)
#: ECS's circuit breaker failed our rollout and takes (or took) the service back to its previous revision
ROLLED_BACK_BY_ECS = "ROLLED_BACK_BY_ECS"
SUPERSEDED = "SUPERSEDED"  #: another deployment (not a rollback to the previous revision) replaced ours
STALLED = "STALLED"
TIMEOUT = "TIMEOUT"
ABORTED = "ABORTED"  #: not waited for any longer because another service failed (fail_fast)


@dataclass(frozen=True)
class ServiceTarget:
    service: str
    task_definition: str  #: ARN (or family:revision) the service must end up running
    desired_count: int | None  #: None = leave the desired count alone (rollback; autoscaling owns it)
    previous_task_definition: str | None = None


@dataclass
class ServiceStatus:
    """One service as seen by the latest poll (fed to ``on_poll``)."""

    service: str
    state: str
    target: str  #: family:revision we wait for
    primary: str | None = None  #: family:revision of the PRIMARY deployment
    rollout_state: str | None = None
    running: int = 0
    desired: int = 0
    pending: int = 0
    failed_tasks: int = 0
    deployments: int = 0
    reason: str | None = None
    new_events: list[str] = field(default_factory=list)  #: events that appeared since the previous poll
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state != IN_PROGRESS


@dataclass
class ServiceOutcome:
    service: str
    ok: bool
    state: str
    reason: str | None
    task_definition: str
    primary_task_definition: str | None = None  #: what the PRIMARY deployment ran at the end
    new_events: list[str] = field(default_factory=list)  #: every event since our deployment started
    last_events: list[str] = field(default_factory=list)  #: the service's last events (oldest first)
    stopped_reasons: list[str] = field(default_factory=list)  #: stopped tasks of the target revision
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seen_event_ids: set[str] = field(default_factory=set, repr=False)  #: for a later wait (``continue_from``)


def revision(task_definition: str | None) -> str | None:
    """``arn:…:task-definition/alpha-gunicorn:7`` -> ``alpha-gunicorn:7``."""
    return task_definition.rsplit("/", 1)[-1] if task_definition else None


def _event_text(event: Mapping[str, Any]) -> str:
    at = event.get("createdAt")
    stamp = at.astimezone(UTC).strftime("%H:%M:%S") if isinstance(at, datetime) else "--:--:--"
    return f"{stamp} {event.get('message', '')}"


def update_services(ecs: Any, cluster: str, targets: Sequence[ServiceTarget]) -> list[str]:
    """UpdateService for each target; returns the services updated.

    If one call fails, raises RolloutFailed (exit 6, nothing rolled back) whose ``updated`` attribute lists the
    services already updated, so the caller can roll exactly those back.
    """
    updated: list[str] = []
    for t in targets:
        kwargs: dict[str, Any] = {"cluster": cluster, "service": t.service, "taskDefinition": t.task_definition}
        if t.desired_count is not None:
            kwargs["desiredCount"] = t.desired_count
        try:
            ecs.update_service(**kwargs)
        except Exception as exc:
            code = client_error_code(exc)
            if code is None:
                raise
            err = RolloutFailed(
                f"UpdateService of {t.service} failed: {code}: {exc}",
                "services updated before it: " + (", ".join(updated) or "none"),
                status=ExitStatus.NOT_ROLLED_BACK,
            )
            err.updated = updated  # type: ignore[attr-defined]
            raise err from exc
        updated.append(t.service)
    return updated


class _Tracker:
    """What the loop knows about one service."""

    def __init__(self, target: ServiceTarget, started_at: datetime, start: float, visibility_grace: float) -> None:
        self.target = target
        self.visibility_grace = visibility_grace
        self.status = ServiceStatus(target.service, IN_PROGRESS, revision(target.task_definition) or "?")
        self.started_at = started_at
        self.finished_at: datetime | None = None
        self.start = start
        self.baseline: datetime | None = None
        self.seen: set[str] = set()
        self.events: list[str] = []
        self.last_events: list[str] = []
        self.best: dict[str, Any] = {}
        self.seen_ours = False
        self.last_progress = start

    def finish(self, state: str, reason: str | None) -> None:
        self.status.state = state
        self.status.reason = reason
        self.finished_at = datetime.now(UTC)

    def observe(self, svc: Mapping[str, Any] | None, failure: str | None, now: float, stall_timeout: float) -> None:
        st = self.status
        st.new_events = []
        st.elapsed = now - self.start
        if svc is None:
            self.finish(FAILED, f"service not found ({failure or 'MISSING'})")
            return
        deps = list(svc.get("deployments") or [])
        primary = next((d for d in deps if d.get("status") == "PRIMARY"), None)
        target = revision(self.target.task_definition)
        ours = [d for d in deps if revision(d.get("taskDefinition")) == target]
        seen_before, self.seen_ours = self.seen_ours, self.seen_ours or bool(ours)
        self._events(svc, ours)
        st.deployments = len(deps)
        st.desired = int(svc.get("desiredCount", 0))
        st.running = int(svc.get("runningCount", 0))
        st.pending = int(svc.get("pendingCount", 0))
        if primary:
            st.primary = revision(primary.get("taskDefinition"))
            st.rollout_state = primary.get("rolloutState")
            st.failed_tasks = int(primary.get("failedTasks", 0))
        if self._progressed(primary, deps):
            self.last_progress = now

        if svc.get("status") != "ACTIVE":
            self.finish(FAILED, f"service is {svc.get('status')}")
        elif primary is None:
            pass  # no PRIMARY deployment yet: keep waiting (stall/timeout still apply)
        elif st.primary != target and not ours and not seen_before and now - self.start < self.visibility_grace:
            # ECS's API is eventually consistent: right after UpdateService a describe may not show the new
            # deployment yet. Without any sign of ours, give it ``visibility_grace`` seconds before concluding.
            pass
        elif st.primary != target:
            failed = next((d for d in ours if d.get("rolloutState") == FAILED), None)
            why = (failed or {}).get("rolloutStateReason")
            rolled_back = any(word in e for e in self.events for word in ROLLBACK_WORDS)
            if not (failed or ours or seen_before or rolled_back):
                self.finish(FAILED, f"no deployment of {target} appeared; the service runs {st.primary}")
            elif failed or rolled_back or st.primary == revision(self.target.previous_task_definition):
                cause = why.rstrip(".") if why else self._rollback_cause(svc)
                self.finish(ROLLED_BACK_BY_ECS, f"{cause}; ECS rolled back to {st.primary}")
            else:
                self.finish(SUPERSEDED, f"the primary deployment now runs {st.primary}, not {target}")
            return
        elif primary.get("rolloutState") == FAILED:
            why = primary.get("rolloutStateReason") or "the deployment's rollout FAILED"
            breaker = (svc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
            previous = revision(self.target.previous_task_definition)
            if breaker.get("enable") and breaker.get("rollback") and previous:
                # ECS's circuit breaker takes the service back; its rollback deployment follows right after.
                self.finish(ROLLED_BACK_BY_ECS, f"{why.rstrip('.')}; ECS is rolling back to {previous}")
            else:
                self.finish(FAILED, why)
            return
        elif self._done(svc, primary, deps):
            self.finish(COMPLETED, None)
            return
        if not st.finished and now - self.last_progress >= stall_timeout:
            self.finish(STALLED, f"no progress for {now - self.last_progress:.0f} s: {self.describe_counts()}")

    def _rollback_cause(self, svc: Mapping[str, Any]) -> str:
        """Why ECS rolled back when our deployment (and its rolloutStateReason) is already gone: who can roll back
        (circuit breaker, CloudWatch alarms) and ECS's "deployment failed" event."""
        conf = svc.get("deploymentConfiguration") or {}
        breaker, alarms = conf.get("deploymentCircuitBreaker") or {}, conf.get("alarms") or {}
        who = [
            name
            for name, c in (("deployment circuit breaker", breaker), ("CloudWatch alarms", alarms))
            if c.get("enable") and c.get("rollback")
        ]
        cause = "ECS " + " or ".join(who) if who else "ECS"
        failed = [e for e in self.events if "deployment failed" in e]
        if failed:
            cause += ": " + re.sub(r"^\S+ \(service [^)]*\) ", "", failed[-1]).rstrip(".")
        return cause

    def _progressed(self, primary: Mapping[str, Any] | None, deps: list[Mapping[str, Any]]) -> bool:
        """Forward progress only: a new primary or rollout state, more primary tasks started, running or failed
        than ever, fewer old tasks or deployments than ever. Failed tasks count: they move the circuit breaker
        towards its verdict. Tasks that sit in PENDING, or a count that goes up and down, are no progress."""
        p = primary or {}
        old_running = sum(int(d.get("runningCount", 0)) for d in deps if d is not primary)
        now = {
            "primary": (p.get("id"), p.get("rolloutState")),
            "started": int(p.get("runningCount", 0)) + int(p.get("pendingCount", 0)),
            "running": int(p.get("runningCount", 0)),
            "failed": int(p.get("failedTasks", 0)),
            "old_running": -old_running,
            "deployments": -len(deps),
        }
        best = self.best
        moved = not best or best["primary"] != now["primary"] or any(now[k] > best[k] for k in now if k != "primary")
        if moved:
            self.best = {k: (v if k == "primary" or not best else max(v, best[k])) for k, v in now.items()}
        return moved

    @staticmethod
    def _done(svc: Mapping[str, Any], primary: Mapping[str, Any], deps: list[Mapping[str, Any]]) -> bool:
        # ECS reports no rolloutState for services behind a Classic Load Balancer (and for external controllers):
        # then the counts and the single deployment are all the truth there is.
        rolled = primary.get("rolloutState", COMPLETED) == COMPLETED
        return (
            rolled
            and len(deps) == 1
            and primary.get("runningCount") == primary.get("desiredCount")
            and svc.get("runningCount") == svc.get("desiredCount")
        )

    def _events(self, svc: Mapping[str, Any], ours: list[Mapping[str, Any]]) -> None:
        events = list(svc.get("events") or [])  # newest first
        if self.baseline is None:
            created = [d["createdAt"] for d in ours if isinstance(d.get("createdAt"), datetime)]
            # Our deployment's creation time is on the same (server) clock as the events; without it, everything
            # already listed at the first poll except the last minute is history.
            self.baseline = max(created) if created else self.started_at - timedelta(minutes=1)
        fresh = [
            e
            for e in events
            if e.get("id") not in self.seen
            and (not isinstance(e.get("createdAt"), datetime) or e["createdAt"] >= self.baseline)
        ]
        self.seen.update(str(e.get("id")) for e in events)
        texts = [_event_text(e) for e in reversed(fresh)]
        self.status.new_events = texts
        self.events.extend(texts)
        self.last_events = [_event_text(e) for e in reversed(events[:LAST_EVENTS])]

    def describe_counts(self) -> str:
        st = self.status
        return (
            f"primary {st.primary or '-'} {st.rollout_state or '-'}, running {st.running}/{st.desired}, "
            f"pending {st.pending}, {st.deployments} deployment(s)"
        )

    def outcome(self, stopped: list[str]) -> ServiceOutcome:
        st = self.status
        return ServiceOutcome(
            service=st.service,
            ok=st.state == COMPLETED,
            state=st.state,
            reason=st.reason,
            task_definition=self.target.task_definition,
            primary_task_definition=st.primary,
            new_events=list(self.events),
            last_events=list(self.last_events),
            stopped_reasons=stopped,
            seen_event_ids=set(self.seen),
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


def describe_services(ecs: Any, cluster: str, services: Iterable[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """DescribeServices in batches of <= 10: ({name: service}, {name: failure reason})."""
    names = list(services)
    found: dict[str, dict] = {}
    failures: dict[str, str] = {}
    for i in range(0, len(names), BATCH):
        resp = ecs.describe_services(cluster=cluster, services=names[i : i + BATCH])
        for svc in resp.get("services", []):
            found[svc["serviceName"]] = svc
        for f in resp.get("failures", []):
            failures[str(f.get("arn", "")).rsplit("/", 1)[-1]] = str(f.get("reason"))
    return found, failures


def stopped_task_reasons(
    ecs: Any, cluster: str, service: str, task_definition: str, limit: int = STOPPED_TASKS
) -> list[str]:
    """Why the stopped tasks of ``task_definition`` in ``service`` stopped, newest first (ListTasks + DescribeTasks)."""
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get("taskArns", [])
    if not arns:
        return []
    tasks = []
    for i in range(0, len(arns), 100):
        tasks.extend(ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100]).get("tasks", []))
    target = revision(task_definition)
    mine = [t for t in tasks if revision(t.get("taskDefinitionArn")) == target]
    far_past = datetime.min.replace(tzinfo=UTC)
    mine.sort(key=lambda t: t.get("stoppedAt") or t.get("createdAt") or far_past, reverse=True)
    out = []
    for t in mine[:limit]:
        detail = [
            f"{c.get('name')}: exit {c.get('exitCode')}" + (f" ({c['reason']})" if c.get("reason") else "")
            for c in t.get("containers") or []
            if c.get("exitCode") not in (None, 0) or c.get("reason")
        ]
        text = f"task {t['taskArn'].rsplit('/', 1)[-1]}: {t.get('stoppedReason') or t.get('stopCode') or 'stopped'}"
        out.append(text + (f" [{'; '.join(detail)}]" if detail else ""))
    return out


def wait_for_services(
    ecs: Any,
    cluster: str,
    targets: Sequence[ServiceTarget],
    *,
    timeout: float,
    stall_timeout: float,
    poll_interval: float = 6.0,
    on_poll: Callable[[list[ServiceStatus]], None] | None = None,
    fail_fast: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    visibility_grace: float = 10.0,
    continue_from: Mapping[str, ServiceOutcome] | None = None,
) -> dict[str, ServiceOutcome]:
    """Wait for every target in one loop; returns {service: ServiceOutcome} in target order.

    ``on_poll(statuses)`` is called after every poll with one :class:`ServiceStatus` per target. With ``fail_fast``
    the wait ends as soon as one service failed; services still in progress are then ABORTED. If a poll shows
    another primary deployment and no trace of ours (ECS's API is eventually consistent right after UpdateService),
    the verdict waits up to ``visibility_grace`` seconds; once ours was seen, a change of primary is judged at once.
    ``continue_from`` (outcomes of an earlier wait on the same services) keeps its events from being shown again.
    """
    rng = rng or random.Random()
    start = clock()
    deadline = start + timeout
    wall = datetime.now(UTC)
    trackers = {t.service: _Tracker(t, wall, start, visibility_grace) for t in targets}
    for name, before in (continue_from or {}).items():
        if name in trackers:  # events an earlier wait already showed are not new again
            trackers[name].seen |= before.seen_event_ids
    while True:
        for tr in trackers.values():
            tr.status.new_events = []  # finished services are not observed again: nothing new to show
        active = [tr for tr in trackers.values() if not tr.status.finished]
        found, failures = describe_services(ecs, cluster, [tr.target.service for tr in active])
        now = clock()
        for tr in active:
            name = tr.target.service
            tr.observe(found.get(name), failures.get(name), now, stall_timeout)
        failed = any(tr.status.finished and tr.status.state != COMPLETED for tr in trackers.values())
        left = [tr for tr in trackers.values() if not tr.status.finished]
        if left and failed and fail_fast:
            for tr in left:
                tr.finish(ABORTED, "not waited for: another service failed")
        elif left and now >= deadline:
            for tr in left:
                tr.finish(TIMEOUT, f"not done after {timeout:g} s: {tr.describe_counts()}")
        if on_poll:
            on_poll([replace(tr.status, new_events=list(tr.status.new_events)) for tr in trackers.values()])
        if all(tr.status.finished for tr in trackers.values()):
            break
        sleep(max(0.0, min(poll_interval * rng.uniform(0.8, 1.2), deadline - clock())))

    outcomes = {}
    for name, tr in trackers.items():
        stopped: list[str] = []
        if tr.status.state not in (COMPLETED, ABORTED):
            stopped = stopped_task_reasons(ecs, cluster, name, tr.target.task_definition)
        outcomes[name] = tr.outcome(stopped)
    return outcomes


def rollback(
    ecs: Any,
    cluster: str,
    targets: Sequence[ServiceTarget],
    outcomes: Mapping[str, ServiceOutcome] | None = None,
    **wait: Any,
) -> dict[str, ServiceOutcome]:
    """Put every target back on its ``previous_task_definition`` (desired count left alone) and wait the same way.

    Every service is waited for (``fail_fast`` defaults to False here) so each one's outcome is known. Pass the
    failed rollout's ``outcomes`` so that its events are not shown a second time.
    """
    back = [
        ServiceTarget(t.service, t.previous_task_definition, None, t.task_definition)
        for t in targets
        if t.previous_task_definition
    ]
    update_services(ecs, cluster, back)
    wait.setdefault("fail_fast", False)
    return wait_for_services(ecs, cluster, back, continue_from=outcomes, **wait)
