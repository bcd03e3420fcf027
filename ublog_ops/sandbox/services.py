"""Service deployments of the sandbox's ECS model (rolling update, minimumHealthyPercent 100 / maximumPercent 200).

UpdateService with a new task definition (or forceNewDeployment) adds a PRIMARY deployment (IN_PROGRESS) and turns
the previous one ACTIVE; the scheduler starts the new tasks, and once one is healthy stops an old one, until the
new deployment runs the desired count, turns COMPLETED and the old one is gone. A failing revision's tasks count
as ``failedTasks``; with the deployment circuit breaker on, the deployment ends FAILED at the threshold and (with
rollback) the service rolls back to the last COMPLETED deployment's task definition. Events are worded as ECS's.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .behaviour import failure_threshold
from .tasks import PENDING_STATES, STOP_SCHEDULER, SandboxTask, dt

if TYPE_CHECKING:
    from moto.ecs.models import Service

    from .model import EcsModel

MAX_EVENTS = 100


def new_deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


@dataclass
class Deployment:
    id: str
    task_definition: str
    desired: int
    created: float
    updated: float
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_state_reason: str = ""
    failed: int = 0
    next_launch_at: float = 0.0
    unable_reported: bool = False
    tasks: list[SandboxTask] = field(default_factory=list)

    def live(self) -> list[SandboxTask]:
        return [t for t in self.tasks if t.desired_status == "RUNNING"]

    def healthy(self) -> list[SandboxTask]:
        return [t for t in self.live() if t.sb_healthy and t.last_status == "RUNNING"]


@dataclass
class ServiceState:
    key: str
    deployments: list[Deployment] = field(default_factory=list)
    last_completed: Deployment | None = None
    steady: bool = False

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]


class Scheduler:
    """The service scheduler: reacts to UpdateService and to task events."""

    def __init__(self, model: EcsModel) -> None:
        self.m = model
        self.states: dict[str, ServiceState] = {}

    # --- API entry points --------------------------------------------------------------------------------------
    def created(self, service: Service, t: float, settled: bool) -> None:
        """A new service. ``settled`` (seeding): it already runs its desired count on a COMPLETED deployment."""
        key = f"{service.cluster_name}:{service.name}"
        state = ServiceState(key)
        self.states[key] = state
        service.sb_state = state
        service.events = []
        service.created_at = dt(t)
        service.deployment_configuration = getattr(service, "deployment_configuration", None) or {
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
        service.launch_type = service.launch_type or "FARGATE"
        service.platform_version = service.platform_version or "1.4.0"
        d = Deployment(new_deployment_id(), service.task_definition, service.desired_count, t, t)
        d.rollout_state_reason = f"ECS deployment {d.id} in progress."
        state.deployments = [d]
        if settled:
            since = t - 600
            d.created = d.updated = since
            for _ in range(service.desired_count):
                task = self._launch(service, d, since, settled=True)
                self.m.lifecycle.settle(task, since)
            self._complete(service, state, since)
        else:
            self.reconcile(service, t)

    def updated(self, service: Service, t: float, new_task_definition: str | None, force: bool) -> None:
        state: ServiceState = service.sb_state
        if new_task_definition or force:
            td = new_task_definition or service.task_definition
            for d in state.deployments:
                d.status = "ACTIVE"
            d = Deployment(new_deployment_id(), td, service.desired_count, t, t)
            d.rollout_state_reason = f"ECS deployment {d.id} in progress."
            state.deployments.insert(0, d)
            service.task_definition = td
            state.steady = False
        else:
            state.primary.desired = service.desired_count
            state.primary.updated = t
        self.reconcile(service, t)

    def deleted(self, service: Service, t: float) -> None:
        state: ServiceState | None = getattr(service, "sb_state", None)
        if not state:
            return
        for d in state.deployments:
            for task in d.live():
                self.m.lifecycle.stop(task, t, STOP_SCHEDULER, f"Service {service.name} was deleted")
            d.desired = 0

    # --- task events -------------------------------------------------------------------------------------------
    def on_task_healthy(self, task: SandboxTask, t: float) -> None:
        service = self.m.service_for(task)
        if service is not None:
            self.reconcile(service, t)

    def on_task_stopped(self, task: SandboxTask, t: float) -> None:
        service = self.m.service_for(task)
        if service is None:
            return
        state: ServiceState = service.sb_state
        d = next((d for d in state.deployments if d.id == task.sb_deployment), None)
        if d is not None and task.sb_failed and d is state.primary and d.rollout_state == "IN_PROGRESS":
            self._count_failure(service, state, d, task, t)
        elif d is not None and task.sb_failed:
            d.next_launch_at = t + self.m.behaviour.seconds(task.sb_settings.get("restart_delay_seconds"))
            self.m.queue.push(d.next_launch_at, lambda now: self.reconcile(service, now))
        self.reconcile(service, t)

    def _count_failure(self, service: Service, state: ServiceState, d: Deployment, task: SandboxTask, t: float) -> None:
        cfg = self.m.behaviour.breaker(task.sb_tag)
        d.failed += 1
        d.updated = t
        delay = self.m.behaviour.seconds(task.sb_settings.get("restart_delay_seconds"))
        d.next_launch_at = t + delay
        self.m.queue.push(d.next_launch_at, lambda now: self.reconcile(service, now))
        if not d.unable_reported and d.failed >= int(cfg.get("unable_after_failures") or 2):
            d.unable_reported = True
            self.event(
                service,
                t,
                f"(service {service.name}) is unable to consistently start tasks successfully. For more "
                "information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
            )
        breaker = (service.deployment_configuration or {}).get("deploymentCircuitBreaker") or {}
        if not breaker.get("enable"):
            return
        if d.failed < failure_threshold(cfg.get("failure_threshold"), d.desired):
            return
        d.rollout_state = "FAILED"
        d.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
        self.event(
            service, t, f"(service {service.name}) (deployment {d.id}) deployment failed: tasks failed to start."
        )
        if breaker.get("rollback") and state.last_completed is not None:
            at = t + self.m.behaviour.seconds(cfg.get("rollback_delay_seconds"))
            self.m.queue.push(at, lambda now: self._rollback(service, state, d, now))

    def _rollback(self, service: Service, state: ServiceState, failed: Deployment, t: float) -> None:
        if state.primary is not failed or state.last_completed is None:
            return  # superseded by a newer UpdateService
        target = state.last_completed
        self.event(service, t, f"(service {service.name}) rolling back to deployment {target.id}.")
        for d in state.deployments:
            d.status = "ACTIVE"
        d = Deployment(new_deployment_id(), target.task_definition, service.desired_count, t, t)
        d.rollout_state_reason = f"ECS deployment {d.id} in progress."
        state.deployments.insert(0, d)
        service.task_definition = target.task_definition
        self.reconcile(service, t)

    # --- the scheduler loop --------------------------------------------------------------------------------------
    def reconcile(self, service: Service, t: float) -> None:
        state: ServiceState | None = getattr(service, "sb_state", None)
        if not state or service.status != "ACTIVE" or not state.primary.task_definition:
            return
        p = state.primary
        live = p.live()
        if p.rollout_state != "FAILED" and t >= p.next_launch_at and len(live) < p.desired:
            started = [self._launch(service, p, t) for _ in range(p.desired - len(live))]
            state.steady = False
            ids = " ".join(f"(task {task.id})" for task in started)
            self.event(service, t, f"(service {service.name}) has started {len(started)} tasks: {ids}.")
        elif len(live) > p.desired:
            extra = sorted(live, key=lambda x: (x.sb_healthy, x.created_at))[: len(live) - p.desired]
            self._stop(service, p, extra, t)
        # Old deployments keep what the new one cannot yet serve (minimumHealthyPercent 100).
        budget = max(0, p.desired - len(p.healthy())) if p.rollout_state != "FAILED" else p.desired
        old = [task for d in state.deployments[1:] for task in d.live()]
        keep = sorted(old, key=lambda x: (not (x.sb_healthy and x.last_status == "RUNNING"), x.created_at))[:budget]
        drop = [task for task in old if task not in keep]
        if drop:
            self._stop(service, p, drop, t)
        for d in state.deployments[1:]:
            d.desired = len([task for task in d.live() if task in keep])
        state.deployments = [state.primary] + [
            d for d in state.deployments[1:] if any(task.last_status != "STOPPED" for task in d.tasks)
        ]
        if (
            len(state.deployments) == 1
            and p.rollout_state == "IN_PROGRESS"
            and len(p.healthy()) >= p.desired
            and len(p.live()) == p.desired
        ):
            self._complete(service, state, t)
        elif not state.steady and len(state.deployments) == 1 and p.rollout_state == "COMPLETED":
            settling = any(
                x.last_status != "STOPPED" and (x.desired_status == "STOPPED" or not x.sb_healthy) for x in p.tasks
            )
            if not settling and len(p.live()) == p.desired:
                state.steady = True
                self.event(service, t, f"(service {service.name}) has reached a steady state.")

    def _complete(self, service: Service, state: ServiceState, t: float) -> None:
        p = state.primary
        p.rollout_state = "COMPLETED"
        p.rollout_state_reason = f"ECS deployment {p.id} completed."
        p.updated = t
        state.last_completed = p
        state.steady = True
        self.event(service, t, f"(service {service.name}) (deployment {p.id}) deployment completed.")
        self.event(service, t, f"(service {service.name}) has reached a steady state.")

    def _launch(self, service: Service, d: Deployment, t: float, settled: bool = False) -> SandboxTask:
        task = self.m.new_task(
            t,
            cluster_name=service.cluster_name,
            task_definition=d.task_definition,
            kind="service",
            group=f"service:{service.name}",
            started_by=d.id,
            network=service.network_configuration,
            launch_type=service.launch_type,
            platform_version=service.platform_version,
            start=not settled,
        )
        task.sb_service_key = f"{service.cluster_name}:{service.name}"
        task.sb_deployment = d.id
        d.tasks.append(task)
        d.updated = t
        return task

    def _stop(self, service: Service, p: Deployment, tasks: list[SandboxTask], t: float) -> None:
        for task in tasks:
            self.m.lifecycle.stop(task, t, STOP_SCHEDULER, f"Scaling activity initiated by (deployment {p.id})")
        ids = " ".join(f"(task {task.id})" for task in tasks)
        self.event(service, t, f"(service {service.name}) has stopped {len(tasks)} running tasks: {ids}.")

    def event(self, service: Service, t: float, message: str) -> None:
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": dt(t), "message": message})
        del service.events[MAX_EVENTS:]

    # --- what DescribeServices shows ---------------------------------------------------------------------------------
    def render(self, service: Service) -> None:
        state: ServiceState | None = getattr(service, "sb_state", None)
        if not state:
            return
        out: list[dict[str, Any]] = []
        running = pending = 0
        for d in state.deployments:
            r = sum(1 for task in d.tasks if task.last_status == "RUNNING")
            pe = sum(1 for task in d.tasks if task.last_status in PENDING_STATES)
            running, pending = running + r, pending + pe
            out.append(
                {
                    "id": d.id,
                    "status": d.status,
                    "taskDefinition": d.task_definition,
                    "desiredCount": d.desired,
                    "pendingCount": pe,
                    "runningCount": r,
                    "failedTasks": d.failed,
                    "createdAt": dt(d.created),
                    "updatedAt": dt(d.updated),
                    "launchType": service.launch_type,
                    "platformVersion": service.platform_version,
                    "platformFamily": "Linux",
                    "networkConfiguration": service.network_configuration or None,
                    "rolloutState": d.rollout_state,
                    "rolloutStateReason": d.rollout_state_reason,
                }
            )
        service.deployments = out
        service.running_count = running
        service.pending_count = pending
