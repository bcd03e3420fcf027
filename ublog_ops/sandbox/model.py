"""The sandbox's ECS model: a discrete-event clock over wall time, shared by the task lifecycle
(:mod:`.tasks`) and the service scheduler (:mod:`.services`), plus what they need from the other moto backends
(ECR images, CloudWatch Logs streams, Secrets Manager).

State evolves lazily: every ECS call first applies every event due by now (in time order, each at its own
timestamp), and a background ticker does the same a few times a second so log lines appear without ECS calls.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.ecr.models import ecr_backends
from moto.logs.models import logs_backends
from moto.secretsmanager.models import secretsmanager_backends

from ..naming import Names, split_image
from .behaviour import Behaviour
from .services import Scheduler
from .tasks import SandboxTask, TaskLifecycle, render

if TYPE_CHECKING:
    from moto.ecs.models import EC2ContainerServiceBackend, Service


class EventQueue:
    """Events ``(time, callback(time))``; :meth:`run_until` applies every event due, earliest first."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def push(self, t: float, fn: Callable[[float], None]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), fn))

    def run_until(self, now: float) -> int:
        done = 0
        while self._heap and self._heap[0][0] <= now:
            t, _, fn = heapq.heappop(self._heap)
            fn(t)
            done += 1
        return done

    def __len__(self) -> int:
        return len(self._heap)


class EcsModel:
    """The behaviour model attached to one moto ECS backend (one account and region)."""

    def __init__(
        self,
        backend: EC2ContainerServiceBackend,
        names: Names,
        behaviour: Behaviour,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.names = names
        self.behaviour = behaviour
        self.clock = clock
        self.lock = threading.RLock()
        self.queue = EventQueue()
        self.lifecycle = TaskLifecycle(self)
        self.services = Scheduler(self)
        self.seeding = False

    @property
    def account(self) -> str:
        return self.backend.account_id

    @property
    def region(self) -> str:
        return self.backend.region_name

    def advance(self) -> None:
        with self.lock:
            self.queue.run_until(self.clock())

    # --- tasks -------------------------------------------------------------------------------------------------
    def new_task(
        self,
        t: float,
        *,
        cluster_name: str,
        task_definition: str,
        kind: str,
        group: str,
        started_by: str = "",
        network: dict[str, Any] | None = None,
        launch_type: str | None = None,
        platform_version: str | None = None,
        overrides: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        capacity_provider: str | None = None,
        start: bool = True,
    ) -> SandboxTask:
        cluster = self.backend._get_cluster(cluster_name)
        td = self.backend.describe_task_definition(task_definition)
        task = SandboxTask(
            self,
            t,
            td,
            kind,
            cluster=cluster,
            container_instance_arn=None,
            resource_requirements=self.backend._calculate_task_resource_requirements(td),
            backend=self.backend,
            group=group,
            launch_type=launch_type or ("" if capacity_provider else "FARGATE"),
            overrides=overrides or {},
            started_by=started_by or "",
            tags=tags or [],
            networking_configuration=network,
            platform_version=platform_version,
            capacity_provider_name=capacity_provider,
        )
        self.backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        if start:
            settings = self.behaviour.one_off(task.sb_tag) if kind == "one_off" else self.behaviour.service(task.sb_tag)
            self.lifecycle.start(task, t, settings)
        return task

    def service_for(self, task: SandboxTask) -> Service | None:
        if not task.sb_service_key:
            return None
        return self.backend.services.get(task.sb_service_key)

    # --- images ------------------------------------------------------------------------------------------------
    def _registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    def _ecr_image(self, image: str) -> tuple[bool, Any]:
        """(is the image in this sandbox's registry, the moto Image or None)."""
        repo, tag = split_image(image)
        registry, _, name = repo.partition("/")
        if registry != self._registry():
            return False, None
        repository = ecr_backends[self.account][self.region].repositories.get(name)
        if repository is None:
            return True, None
        digest = image.split("@", 1)[1] if "@" in image else None
        for img in repository.images:
            if (tag and tag in (img.image_tags or [])) or (digest and img.get_image_digest() == digest):
                return True, img
        return True, None

    def image_digest(self, image: str) -> str | None:
        _, img = self._ecr_image(image)
        return img.get_image_digest() if img is not None else None

    def behaviour_image(self, defs: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        """(tag, image) that decides a task's behaviour: its first essential container from this sandbox's ECR,
        else its first essential container."""
        essential = [d for d in defs if d.get("essential", True)] or defs
        chosen = next((d for d in essential if self._ecr_image(d.get("image") or "")[0]), essential[0])
        image = chosen.get("image") or ""
        tag = split_image(image)[1]
        if tag is None:  # pinned by digest: the tag(s) that digest carries in the sandbox's ECR
            _, img = self._ecr_image(image)
            tag = (img.image_tags or [None])[0] if img is not None else None
        return tag, image

    def start_problem(self, task: SandboxTask, settings: dict[str, Any]) -> str | None:
        """Why the task cannot start (as ECS words it), or None."""
        values = task.placeholders()
        if settings.get("fail_to_start"):
            return render(settings["fail_to_start"], values)
        for cd in task.sb_defs:
            ours, img = self._ecr_image(cd.get("image") or "")
            if ours and img is None:
                return (
                    "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve "
                    f"ref {cd.get('image')}: {cd.get('image')}: not found"
                )
        groups = logs_backends[self.account][self.region].groups
        for cd in task.sb_defs:
            group = self._log_options(cd).get("awslogs-group")
            if group and group not in groups:
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 "
                    "times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log "
                    f"group does not exist. : exit status 1 (log group {group})"
                )
        secrets = secretsmanager_backends[self.account][self.region]
        for cd in task.sb_defs:
            for secret in cd.get("secrets") or []:
                ref = secret["valueFrom"]
                sid = ":".join(ref.split(":")[:7]) if ref.startswith("arn:") else ref
                try:
                    secrets.describe_secret(sid)
                except Exception:  # noqa: BLE001 - moto raises its own ResourceNotFound
                    return (
                        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                        "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
                        f"time(s): failed to fetch secret {ref} from secrets manager: ResourceNotFoundException: "
                        "Secrets Manager can't find the specified secret."
                    )
        return None

    # --- logs --------------------------------------------------------------------------------------------------
    @staticmethod
    def _log_options(cd: dict[str, Any]) -> dict[str, str]:
        conf = cd.get("logConfiguration") or {}
        return dict(conf.get("options") or {}) if conf.get("logDriver") == "awslogs" else {}

    def _stream(self, task: SandboxTask, cd: dict[str, Any]) -> tuple[str, str] | None:
        opts = self._log_options(cd)
        if not opts.get("awslogs-group") or not opts.get("awslogs-stream-prefix"):
            return None
        return opts["awslogs-group"], f"{opts['awslogs-stream-prefix']}/{cd['name']}/{task.id}"

    def open_streams(self, task: SandboxTask, t: float) -> None:
        del t
        backend = logs_backends[self.account][self.region]
        for cd in task.sb_defs:
            where = self._stream(task, cd)
            if where and where[0] in backend.groups and where[1] not in backend.groups[where[0]].streams:
                backend.create_log_stream(*where)

    def write_log(self, task: SandboxTask, essential: bool, events: list[tuple[float, str]]) -> None:
        """Append lines to the stream of the task's first (non-)essential container."""
        cd = next((d for d in task.sb_defs if bool(d.get("essential", True)) == essential), None)
        where = self._stream(task, cd) if cd else None
        if not where or not events:
            return
        backend = logs_backends[self.account][self.region]
        if where[0] not in backend.groups:
            return
        if where[1] not in backend.groups[where[0]].streams:
            backend.create_log_stream(*where)
        backend.put_log_events(
            where[0], where[1], [{"timestamp": int(t * 1000), "message": line} for t, line in events]
        )

    def log_lines(self, task: SandboxTask, spec: Any) -> list[str]:
        """The behaviour's lines for this task (a list, or a mapping by service name with ``*`` as fallback)."""
        if isinstance(spec, dict):
            short = next((n for n in spec if n != "*" and self.names.family(n) == task.sb_family), "*")
            spec = spec.get(short) or []
        values = task.placeholders()
        return [render(line, values) for line in spec or []]
