"""moto glue: an ECS backend subclass that routes tasks and services through the sandbox's model, installed
in-process (``ecs_backends.backend``) while a sandbox runs.

A backend without a model (e.g. one that moto's ``mock_aws`` created) behaves exactly like moto's.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse

from .model import EcsModel
from .tasks import STOP_USER, SandboxTask

#: Service attributes UpdateService may set (besides task definition, desired count, force).
UPDATABLE = {
    "deployment_configuration",
    "network_configuration",
    "platform_version",
    "enable_execute_command",
    "health_check_grace_period_seconds",
    "propagate_tags",
    "capacity_provider_strategy",
    "load_balancers",
    "service_registries",
    "enable_ecs_managed_tags",
}
_request = threading.local()


class SandboxEcsBackend(EC2ContainerServiceBackend):
    @property
    def _url_module(self) -> Any:
        # moto derives the URL module from the class's module name; ours is moto's ECS one.
        import moto.ecs.urls

        return moto.ecs.urls

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.sb_model: EcsModel | None = None

    # --- tasks -----------------------------------------------------------------------------------------------
    def run_task(
        self,
        cluster_str: str,
        task_definition_str: str,
        count: int,
        overrides: dict[str, Any] | None,
        started_by: str,
        tags: list[dict[str, str]] | None,
        launch_type: str | None,
        networking_configuration: dict[str, Any] | None = None,
        group: str | None = None,
        platform_version: str | None = None,
        capacity_provider_strategy: list[dict[str, Any]] | None = None,
    ) -> list[Task]:
        m = self.sb_model
        if m is None or launch_type == "EC2":
            return super().run_task(
                cluster_str,
                task_definition_str,
                count,
                overrides,
                started_by,
                tags,
                launch_type,
                networking_configuration,
                group,
                platform_version,
                capacity_provider_strategy,
            )
        if launch_type and launch_type not in ("FARGATE", "EXTERNAL"):
            raise InvalidParameterException("launch type should be one of [EC2,FARGATE,EXTERNAL]")
        if launch_type and capacity_provider_strategy:
            raise InvalidParameterException("Specify either Launch Type or Capacity Provider Strategy, but not both.")
        if not 1 <= int(count or 1) <= 10:
            raise InvalidParameterException("count must be between 1 and 10.")
        with m.lock:
            m.advance()
            cluster = self._get_cluster(cluster_str)
            td = self.describe_task_definition(task_definition_str)
            if td.status != "ACTIVE":
                raise EcsClientException("TaskDefinition is inactive")
            strategy = capacity_provider_strategy or cluster.default_capacity_provider_strategy or []
            provider = strategy[0]["capacityProvider"] if strategy and not launch_type else None
            now = m.clock()
            return [
                m.new_task(
                    now,
                    cluster_name=cluster.name,
                    task_definition=td.arn,
                    kind="one_off",
                    group=group or f"family:{td.family}",
                    started_by=started_by,
                    network=networking_configuration,
                    launch_type=launch_type,
                    platform_version=platform_version,
                    overrides=overrides,
                    tags=tags,
                    capacity_provider=provider,
                )
                for _ in range(int(count or 1))
            ]

    def describe_tasks(self, cluster_str: str, tasks: list[str]) -> list[Task]:
        m = self.sb_model
        if m is None:
            return super().describe_tasks(cluster_str, tasks)
        with m.lock:
            m.advance()
            return super().describe_tasks(cluster_str, tasks)

    def list_tasks(
        self,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list[Task]:
        m = self.sb_model
        if m is None:
            return super().list_tasks(cluster_str, container_instance, family, started_by, service_name, desiredStatus)
        with m.lock:
            m.advance()
            cluster = self._get_cluster(cluster_str or "default")
            found = list(self.tasks.get(cluster.name, {}).values())
            if family:
                found = [t for t in found if t.task_definition_arn.split("/")[-1].rsplit(":", 1)[0] == family]
            if started_by:
                found = [t for t in found if t.started_by == started_by]
            if service_name:
                name = service_name.split("/")[-1]
                found = [t for t in found if t.group == f"service:{name}"]
            if container_instance:
                found = [t for t in found if container_instance in (t.container_instance_arn or "")]
            # As ECS: without desiredStatus only tasks whose desired status is RUNNING are listed.
            wanted = desiredStatus or "RUNNING"
            return [t for t in found if t.desired_status == wanted]

    def stop_task(self, cluster_str: str, task_str: str, reason: str) -> Task:
        m = self.sb_model
        if m is None:
            return super().stop_task(cluster_str, task_str, reason)
        with m.lock:
            m.advance()
            cluster = self._get_cluster(cluster_str)
            task_id = task_str.rsplit("/", maxsplit=1)[-1]
            task = next(
                (t for arn, t in self.tasks.get(cluster.name, {}).items() if arn.split("/")[-1] == task_id), None
            )
            if task is None:
                raise InvalidParameterException("The referenced task was not found.")
            if isinstance(task, SandboxTask):
                m.lifecycle.stop(task, m.clock(), STOP_USER, reason or "Task stopped by user")
            return task

    # --- services ----------------------------------------------------------------------------------------------
    def create_service(
        self, cluster_str: str, service_name: str, desired_count: int, *args: Any, **kwargs: Any
    ) -> Service:
        m = self.sb_model
        conf = getattr(_request, "deployment_configuration", None)
        _request.deployment_configuration = None
        if m is None:
            return super().create_service(cluster_str, service_name, desired_count, *args, **kwargs)
        with m.lock:
            m.advance()
            cluster = self._get_cluster(cluster_str)
            existing = self.services.get(f"{cluster.name}:{service_name}")
            if existing is not None and existing.status == "ACTIVE":
                raise InvalidParameterException("Creation of service was not idempotent.")
            service = super().create_service(cluster_str, service_name, desired_count, *args, **kwargs)
            service.deployment_configuration = conf
            m.services.created(service, m.clock(), settled=m.seeding)
            m.services.render(service)
            return service

    def describe_services(
        self, cluster_str: str, service_names_or_arns: list[str]
    ) -> tuple[list[Service], list[dict[str, str]]]:
        m = self.sb_model
        if m is None:
            return super().describe_services(cluster_str, service_names_or_arns)
        with m.lock:
            m.advance()
            found, failures = super().describe_services(cluster_str, service_names_or_arns)
            for service in found:
                m.services.render(service)
            return found, failures

    def list_services(
        self, cluster_str: str, scheduling_strategy: str | None = None, launch_type: str | None = None
    ) -> list[str]:
        m = self.sb_model
        if m is None:
            return super().list_services(cluster_str, scheduling_strategy, launch_type)
        with m.lock:
            m.advance()
            return super().list_services(cluster_str, scheduling_strategy, launch_type)

    def update_service(self, service_properties: dict[str, Any]) -> Service:
        m = self.sb_model
        if m is None:
            return super().update_service(service_properties)
        props = dict(service_properties)
        with m.lock:
            m.advance()
            cluster_str = props.pop("cluster", None) or "default"
            service = self._get_service(cluster_str, props.pop("service").split("/")[-1])
            if service.status != "ACTIVE":
                raise EcsClientException("Service was not ACTIVE.")
            td_str = props.pop("task_definition", None)
            force = bool(props.pop("force_new_deployment", False))
            desired = props.pop("desired_count", None)
            new_td = None
            if td_str:
                td = self.describe_task_definition(td_str)
                if td.status != "ACTIVE":
                    raise EcsClientException("TaskDefinition is inactive")
                if td.arn != service.task_definition:
                    new_td = td.arn
            if props.get("network_configuration"):
                props["network_configuration"] = service._validate_network(props["network_configuration"])
            for key, value in props.items():
                if key in UPDATABLE and value is not None:
                    setattr(service, key, value)
            if desired is not None:
                if int(desired) < 0:
                    raise InvalidParameterException("desiredCount must be >= 0")
                service.desired_count = int(desired)
            m.services.updated(service, m.clock(), new_td, force)
            m.services.render(service)
            return service

    def delete_service(self, cluster_name: str, service_name: str, force: bool) -> Service:
        m = self.sb_model
        if m is None:
            return super().delete_service(cluster_name, service_name, force)
        with m.lock:
            m.advance()
            service = super().delete_service(cluster_name, service_name, force)
            m.services.deleted(service, m.clock())
            m.services.render(service)
            return service


# --- response patches (only while installed) -------------------------------------------------------------------
_original: dict[str, Any] = {}


def _create_service(self: EC2ContainerServiceResponse) -> Any:
    # moto's handler drops deploymentConfiguration; hand it to the backend for this request.
    _request.deployment_configuration = self._get_param("deploymentConfiguration")
    return _original["create_service"](self)


def _describe_tasks(self: EC2ContainerServiceResponse) -> Any:
    result = _original["describe_tasks"](self)
    if not isinstance(self.ecs_backend, SandboxEcsBackend) or self.ecs_backend.sb_model is None:
        return result
    data = result.result
    asked = self._get_param("tasks", []) or []
    have = {t.task_arn for t in data["tasks"]} | {t.id for t in data["tasks"]}
    backend = self.ecs_backend
    data["failures"] = [
        {
            "arn": ref
            if ref.startswith("arn:")
            else f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:task/{ref}",
            "reason": "MISSING",
        }
        for ref in asked
        if ref not in have and ref.split("/")[-1] not in have
    ]
    return result


def install() -> None:
    """Make every ECS backend created from now on a SandboxEcsBackend (idempotent)."""
    if _original:
        return
    _original["backend"] = ecs_backends.backend
    _original["create_service"] = EC2ContainerServiceResponse.create_service
    _original["describe_tasks"] = EC2ContainerServiceResponse.describe_tasks
    ecs_backends.backend = SandboxEcsBackend
    for account in ecs_backends.values():
        account.backend = SandboxEcsBackend
    EC2ContainerServiceResponse.create_service = _create_service  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_tasks = _describe_tasks  # type: ignore[method-assign]


def uninstall() -> None:
    if not _original:
        return
    ecs_backends.backend = _original["backend"]
    for account in ecs_backends.values():
        account.backend = _original["backend"]
    EC2ContainerServiceResponse.create_service = _original["create_service"]  # type: ignore[method-assign]
    EC2ContainerServiceResponse.describe_tasks = _original["describe_tasks"]  # type: ignore[method-assign]
    _original.clear()
