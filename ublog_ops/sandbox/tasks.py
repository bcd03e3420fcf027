"""Task lifecycle of the sandbox's ECS model: PROVISIONING → PENDING → RUNNING → (DEACTIVATING → STOPPING →)
DEPROVISIONING → STOPPED over scaled time, per-container exit codes, ``stopCode`` and ``stoppedReason``, log lines
written to CloudWatch Logs while the task runs.

A :class:`SandboxTask` is a moto ``Task`` (so moto's serializer, ENIs and ARNs keep working) whose status is driven
by events on the model's clock instead of moto's "always RUNNING".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.ecs.models import Task

from ..naming import split_image

if TYPE_CHECKING:
    from .model import EcsModel

PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")
STOP_USER = "UserInitiated"
STOP_SCHEDULER = "ServiceSchedulerInitiated"
STOP_ESSENTIAL = "EssentialContainerExited"
STOP_FAILED_START = "TaskFailedToStart"
ESSENTIAL_EXITED = "Essential container in task exited"


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(line: str, values: dict[str, str]) -> str:
    return str(line).format_map(_Placeholders(values))


class SandboxTask(Task):
    """A moto Task with a modelled lifecycle. ``kind`` is ``one_off`` or ``service``."""

    def __init__(self, model: EcsModel, t: float, task_definition: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(task_definition=task_definition, **kwargs)
        self.id = uuid.uuid4().hex  # ECS task ids are 32 hex digits
        self._sb_status = "PROVISIONING"
        self.sb_model = model
        self.sb_kind = kind
        self.sb_gen = 0  # bumped to cancel scheduled lifecycle events
        self.sb_healthy = False
        self.sb_failed = False
        self.sb_service_key: str | None = None
        self.sb_deployment: str | None = None
        self.sb_family = task_definition.family
        self.sb_defs = [dict(c) for c in task_definition.container_definitions]
        self.sb_tag, self.sb_image = model.behaviour_image(self.sb_defs)
        self.created_at = dt(t)
        self.desired_status = "RUNNING"
        self.stopped_reason = None
        self.stop_code = None
        self.cpu = task_definition.cpu
        self.memory = task_definition.memory
        self.platform_family = "Linux"
        self.platform_version = self.platform_version or "1.4.0"
        self.availability_zone = f"{self.region_name}a"
        self.connectivity = "CONNECTING"
        self.health_status = "UNKNOWN"
        self.enable_execute_command = False
        self.version = 1
        self.launch_type = self.launch_type or "FARGATE"
        eni_ip = next(
            (d["value"] for a in self.attachments for d in a["details"] if d["name"] == "privateIPv4Address"), None
        )
        self.containers = []
        for cd in self.sb_defs:
            c: dict[str, Any] = {
                "containerArn": f"arn:aws:ecs:{self.region_name}:{self._account_id}:container/"
                f"{self.cluster_name}/{self.id}/{uuid.uuid4()}",
                "taskArn": self.task_arn,
                "name": cd["name"],
                "image": cd.get("image"),
                "lastStatus": "PENDING",
                "healthStatus": "UNKNOWN",
                "cpu": str(cd.get("cpu", 0)),
                "networkBindings": [],
                "networkInterfaces": [
                    {"attachmentId": a["id"], "privateIpv4Address": eni_ip} for a in self.attachments
                ],
            }
            if cd.get("memoryReservation") is not None:
                c["memoryReservation"] = str(cd["memoryReservation"])
            if cd.get("memory") is not None:
                c["memory"] = str(cd["memory"])
            digest = model.image_digest(cd.get("image") or "")
            if digest:
                c["imageDigest"] = digest
            self.containers.append(c)

    # moto serializes ``lastStatus`` from ``last_status``; moto's ManagedState must not move it.
    @property
    def last_status(self) -> str:
        return self._sb_status

    @last_status.setter
    def last_status(self, value: str) -> None:
        self._sb_status = value

    def advance(self) -> None:
        return None

    # --- helpers ---------------------------------------------------------------------------------------------
    @property
    def short_id(self) -> str:
        return self.id

    def essential(self, container: dict[str, Any]) -> bool:
        cd = next((d for d in self.sb_defs if d["name"] == container["name"]), {})
        return bool(cd.get("essential", True))

    def placeholders(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for cd in self.sb_defs:
            for kv in cd.get("environment") or []:
                env.setdefault(kv["name"], kv["value"])
        image = self.sb_image or ""
        repo, tag = split_image(image)
        registry, _, repository = repo.partition("/")
        names = self.sb_model.names
        return {
            "env": names.env,
            "base_env": names.base_env,
            "db_name": env.get("POSTGRES_NAME", names.db_name),
            "db_host": env.get("POSTGRES_SERVICE_HOST", names.rds_instance),
            "tag": tag or "",
            "image": image,
            "registry": registry,
            "repository": repository,
            "task_id": self.id,
            "family": self.sb_family,
        }

    @property
    def done(self) -> bool:
        return self._sb_status == "STOPPED"


class TaskLifecycle:
    """Schedules and applies the lifecycle events of tasks on the model's clock."""

    def __init__(self, model: EcsModel) -> None:
        self.m = model

    def _at(self, task: SandboxTask, t: float, fn: Any) -> None:
        gen = task.sb_gen

        def fire(now: float) -> None:
            if task.sb_gen == gen:
                fn(now)

        self.m.queue.push(t, fire)

    def start(self, task: SandboxTask, t: float, settings: dict[str, Any]) -> None:
        """Schedule a new task's way from PROVISIONING; ``settings`` is its behaviour section."""
        s = self.m.behaviour.seconds
        task.sb_settings = settings
        reason = self.m.start_problem(task, settings)
        t_pending = t + s(settings.get("provision_seconds"))
        t_running = t_pending + s(settings.get("pending_seconds"))
        self._at(task, t_pending, lambda now: self._pending(task, now))
        if settings.get("stall") and task.sb_kind == "service":
            return  # stays PENDING forever: nothing fails, nothing progresses
        if reason:
            self._at(task, t_running, lambda now: self._failed_to_start(task, now, reason))
        else:
            self._at(task, t_running, lambda now: self._running(task, now))

    def _pending(self, task: SandboxTask, t: float) -> None:
        task.last_status = "PENDING"
        task.pull_started_at = dt(t)
        task.connectivity = "CONNECTED"
        task.connectivity_at = dt(t)

    def _failed_to_start(self, task: SandboxTask, t: float, reason: str) -> None:
        task.pull_stopped_at = dt(t)
        task.desired_status = "STOPPED"
        task.stop_code = STOP_FAILED_START
        task.stopped_reason = reason
        task.stopping_at = dt(t)
        task.execution_stopped_at = dt(t)
        for c in task.containers:
            c["lastStatus"] = "STOPPED"
            if c.get("image") == task.sb_image:
                c["reason"] = reason
        task.sb_failed = True
        self._stopped(task, t)

    def _running(self, task: SandboxTask, t: float) -> None:
        s = self.m.behaviour.seconds
        cfg = task.sb_settings
        task.last_status = "RUNNING"
        task.pull_stopped_at = dt(t)
        task.started_at = dt(t)
        for c in task.containers:
            c["lastStatus"] = "RUNNING"
            c["runtimeId"] = f"{task.id}-{uuid.uuid4().int % 10**10}"
        self.m.open_streams(task, t)
        lines = self.m.log_lines(task, cfg.get("logs"))
        if task.sb_kind == "one_off":
            run = s(cfg.get("run_seconds"))
            self._spread(task, t, run, lines, essential=True)
            self._spread(task, t, run, self.m.log_lines(task, cfg.get("sidecar_logs")), essential=False)
            self._at(task, t + run, lambda now: self._exited(task, now))
            return
        crash = cfg.get("crash_after_seconds")
        if crash is not None:
            self._spread(task, t, s(crash), lines, essential=True)
            self._at(task, t + s(crash), lambda now: self._exited(task, now))
            return
        self._spread(task, t, min(s(cfg.get("healthy_seconds")), s(2.0)), lines, essential=True)
        self._at(task, t + s(cfg.get("healthy_seconds")), lambda now: self._healthy(task, now))

    def _spread(self, task: SandboxTask, t: float, span: float, lines: list[str], essential: bool) -> None:
        """Lines over ``span`` (wall seconds) after ``t``: evenly, but at least one per 2 sandbox seconds."""
        step = min(span / (len(lines) + 1), self.m.behaviour.seconds(2.0)) if lines else 0.0
        for i, line in enumerate(lines):
            self._at(task, t + step * (i + 1), lambda now, line=line: self.m.write_log(task, essential, [(now, line)]))

    def _healthy(self, task: SandboxTask, t: float) -> None:
        task.sb_healthy = True
        task.health_status = "HEALTHY"
        self.m.services.on_task_healthy(task, t)

    def _exited(self, task: SandboxTask, t: float) -> None:
        """The essential container exited on its own (one-off finished, or a service task crashed)."""
        cfg = task.sb_settings
        if task.sb_kind == "one_off":
            code, sidecar = int(cfg.get("exit_code") or 0), int(cfg.get("sidecar_exit_code") or 0)
        else:
            code, sidecar = int(cfg.get("crash_exit_code") or 1), 0
            task.sb_failed = True
        for c in task.containers:
            c["exitCode"] = code if task.essential(c) else sidecar
            c["lastStatus"] = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = STOP_ESSENTIAL
        task.stopped_reason = ESSENTIAL_EXITED
        task.stopping_at = dt(t)
        task.execution_stopped_at = dt(t)
        task.last_status = "DEPROVISIONING"
        task.sb_gen += 1
        self._at(task, t + self.m.behaviour.seconds(cfg.get("stop_seconds")), lambda now: self._stopped(task, now))

    def stop(self, task: SandboxTask, t: float, code: str, reason: str) -> None:
        """StopTask or the scheduler: SIGTERM, then STOPPED after ``stop_seconds``."""
        if task.desired_status == "STOPPED":
            return
        cfg = getattr(task, "sb_settings", {}) or {}
        task.desired_status = "STOPPED"
        task.stop_code = code
        task.stopped_reason = reason
        task.stopping_at = dt(t)
        task.sb_gen += 1
        was_running = task.last_status == "RUNNING"
        if was_running:
            task.last_status = "DEACTIVATING"
            delay = self.m.behaviour.seconds(cfg.get("stop_seconds"))
        else:
            delay = self.m.behaviour.seconds(1)

        def finish(now: float) -> None:
            for c in task.containers:
                if was_running:
                    c["exitCode"] = int(cfg.get("stop_exit_code") or 0)
                c["lastStatus"] = "STOPPED"
            task.execution_stopped_at = dt(now)
            self._stopped(task, now)

        if was_running:
            self._at(task, t + delay / 2, lambda now: setattr(task, "last_status", "STOPPING"))
        self._at(task, t + delay, finish)

    def _stopped(self, task: SandboxTask, t: float) -> None:
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.connectivity = None
        task.stopped_at = dt(t)
        task.health_status = "UNKNOWN"
        task.sb_gen += 1
        self.m.services.on_task_stopped(task, t)

    def settle(self, task: SandboxTask, since: float) -> None:
        """A task that has been running and healthy since ``since`` (a seeded service's task)."""
        task.sb_settings = self.m.behaviour.service(task.sb_tag)
        task.last_status = "RUNNING"
        task.connectivity = "CONNECTED"
        task.connectivity_at = task.pull_started_at = dt(since + 2)
        task.pull_stopped_at = task.started_at = dt(since + 10)
        task.sb_healthy = True
        task.health_status = "HEALTHY"
        for c in task.containers:
            c["lastStatus"] = "RUNNING"
            c["runtimeId"] = f"{task.id}-{uuid.uuid4().int % 10**10}"
        self.m.open_streams(task, since + 10)
        lines = self.m.log_lines(task, task.sb_settings.get("logs"))
        self.m.write_log(task, True, [(since + 10 + i * 0.5, line) for i, line in enumerate(lines)])
