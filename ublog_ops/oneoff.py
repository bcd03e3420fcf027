"""Run a one-off ECS task (the pre-update task) and tell the truth about it.

``run_one_off`` starts one FARGATE task, streams the CloudWatch lines of its awslogs containers while it runs,
drains the rest after it stopped (no line lost), and judges it: success only when every *essential* container
exited 0 (a non-essential sidecar's exit code does not decide). A task that never started fails with its
``stoppedReason``. On timeout, or Ctrl-C, the task is stopped (StopTask with a reason) and waited for until STOPPED
before returning (timeout) or raising :class:`~ublog_ops.errors.Interrupted` (Ctrl-C; the result rides on the
exception as ``.result``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .aws import RETRY, client_error_code
from .errors import Interrupted, RefusedError
from .logs import LogLine, TaskLogs, awslogs_streams

OnLine = Callable[[str], None]


@dataclass
class OneOffResult:
    task_arn: str | None
    task_id: str | None
    task_definition_arn: str
    container: str  #: the main container (the one a command override goes to)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    essential: dict[str, bool] = field(default_factory=dict)
    container_reasons: dict[str, str] = field(default_factory=dict)
    stop_code: str | None = None
    stopped_reason: str | None = None
    succeeded: bool = False
    failure: str | None = None  #: one line saying why it failed, None on success
    lines: list[str] = field(default_factory=list)  #: every log line as passed to on_line (sidecars': "[name] …")
    log_lines: list[LogLine] = field(default_factory=list)  #: the same lines with container and timestamp
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    timed_out: bool = False
    interrupted: bool = False

    @property
    def exit_code(self) -> int | None:
        """The exit code that decided: the first failing essential container's, else the main container's."""
        for name, code in self.exit_codes.items():
            if self.essential.get(name, True) and code not in (0, None):
                return code
        return self.exit_codes.get(self.container)

    def lines_of(self, container: str) -> list[str]:
        return [line.message for line in self.log_lines if line.container == container]


def network_from_service(described_service: Mapping[str, Any]) -> dict[str, Any]:
    """RunTask ``networkConfiguration`` copied from a described service: subnets, security groups, public IP."""
    conf = (described_service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not conf:
        for dep in described_service.get("deployments") or []:
            if dep.get("status") == "PRIMARY":
                conf = (dep.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    name = described_service.get("serviceName", "?")
    if not conf or not conf.get("subnets"):
        raise RefusedError(
            f"service {name} has no awsvpc network configuration to copy for the one-off task",
            "the services must use the awsvpc network mode (Fargate) with subnets",
        )
    out: dict[str, Any] = {"subnets": list(conf["subnets"])}
    if conf.get("securityGroups"):
        out["securityGroups"] = list(conf["securityGroups"])
    out["assignPublicIp"] = conf.get("assignPublicIp", "DISABLED")
    return {"awsvpcConfiguration": out}


def main_container(container_definitions: Sequence[Mapping[str, Any]], family: str | None = None) -> str:
    """The container a command override targets: one named like the family's suffix, else the first essential."""
    names = [c["name"] for c in container_definitions]
    if family:
        for name in names:
            if family == name or family.endswith(f"-{name}"):
                return name
    for c in container_definitions:
        if c.get("essential", True):
            return c["name"]
    return names[0]


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def run_one_off(
    aws: Any,
    cluster: str,
    task_definition_arn: str,
    network_configuration: Mapping[str, Any],
    *,
    command: Sequence[str] | None = None,
    timeout: float,
    on_line: OnLine,
    started_by: str = "ublog-ops",
    container: str | None = None,
    definition: Mapping[str, Any] | None = None,
    poll_interval: float = 2.0,
    drain_grace: float = 2.0,
    stop_wait: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> OneOffResult:
    """Run one task of ``task_definition_arn`` on FARGATE and wait for it; see the module docstring.

    ``definition`` (the task definition's ``containerDefinitions`` holder, e.g. the rendered RegisterTaskDefinition
    kwargs) saves the DescribeTaskDefinition call. ``container`` names the container the ``command`` override goes
    to (default: see :func:`main_container`). Never raises for a task outcome; raises Interrupted on Ctrl-C after
    the task was stopped.
    """
    ecs = aws.client("ecs")
    if definition is None:
        definition = ecs.describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
    cdefs = list(definition["containerDefinitions"])
    main = container or main_container(cdefs, definition.get("family"))
    result = OneOffResult(
        task_arn=None,
        task_id=None,
        task_definition_arn=task_definition_arn,
        container=main,
        essential={c["name"]: bool(c.get("essential", True)) for c in cdefs},
    )
    kwargs: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": task_definition_arn,
        "launchType": "FARGATE",
        "networkConfiguration": dict(network_configuration),
        "startedBy": started_by,
        "count": 1,
    }
    if command:
        kwargs["overrides"] = {"containerOverrides": [{"name": main, "command": list(command)}]}
    try:
        response = ecs.run_task(**kwargs)
    except KeyboardInterrupt:
        # Ctrl-C while RunTask was in flight: the task may exist although we never saw its ARN. Find it (ours:
        # this family, startedBy, created just now; the deploy lock keeps others out) and stop it before leaving.
        result.interrupted = True
        result.failure = "interrupted by the user (Ctrl-C) while the task was being started"
        stopped = _stop_orphans(ecs, cluster, task_definition_arn, started_by, poll_interval, stop_wait, clock, sleep)
        if stopped:
            result.task_arn = stopped[0]
            result.task_id = stopped[0].rsplit("/", 1)[-1]
        raise _interrupted(result, waited=True) from None
    except Exception as exc:
        code = client_error_code(exc)
        if code is None:
            raise
        result.failure = f"RunTask failed: {code}: {getattr(exc, 'response', {}).get('Error', {}).get('Message', '')}"
        return result
    if not response.get("tasks"):
        why = "; ".join(f"{f.get('reason')} ({f.get('arn', '')})".strip() for f in response.get("failures", []))
        result.failure = f"RunTask started no task: {why or 'no reason given'}"
        return result

    task = response["tasks"][0]
    result.task_arn = task["taskArn"]
    result.task_id = task["taskArn"].rsplit("/", 1)[-1]
    tails = TaskLogs(awslogs_streams(cdefs, result.task_id), lambda region: _logs_client(aws, region))

    def emit(lines: list[LogLine]) -> None:
        for line in lines:
            # The main container's lines as they are; a sidecar's lines say whose they are.
            text = line.message if line.container == main else f"[{line.container}] {line.message}"
            result.log_lines.append(line)
            result.lines.append(text)
            on_line(text)

    def describe() -> dict[str, Any]:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[result.task_arn]).get("tasks") or []
        return tasks[0] if tasks else task

    deadline = clock() + timeout
    try:
        while True:
            task = describe()
            emit(tails.poll(to_end=False))  # one page per stream while it runs; the drain reads to the end
            if task.get("lastStatus") == "STOPPED":
                break
            remaining = deadline - clock()
            if remaining <= 0:
                result.timed_out = True
                break
            sleep(min(poll_interval, remaining))
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception as exc:
        # We can no longer watch it (AWS unreachable after retries, a broken output pipe…): do not leave the task
        # running unobserved with the deploy lock about to be released. Best effort, then the error goes up.
        try:
            ecs.stop_task(cluster=cluster, task=result.task_arn, reason=f"ublog-ops: aborted: {exc}"[:255])
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise

    if result.timed_out or result.interrupted:
        reason = (
            "ublog-ops: interrupted by the user (Ctrl-C)"
            if result.interrupted
            else f"ublog-ops: timed out after {_fmt_seconds(timeout)}"
        )
        task, outcome = _stop_and_wait(
            ecs, cluster, result.task_arn, reason, describe, tails, emit, poll_interval, stop_wait, clock, sleep
        )
        if outcome != "stopped":
            result.interrupted = result.interrupted or outcome == "interrupted"
            _judge(result, task, timeout)
            if result.interrupted:
                raise _interrupted(result, waited=False)
            result.failure = f"{result.failure}; StopTask was sent but the task was not STOPPED after {stop_wait:g} s"
            return result

    try:
        _drain(tails, emit, task, drain_grace, clock, sleep)
    except KeyboardInterrupt:
        result.interrupted = True  # the task has stopped already; only the last lines may be missing
    _judge(result, task, timeout)
    if result.interrupted:
        raise _interrupted(result, waited=True)
    return result


def _interrupted(result: OneOffResult, *, waited: bool) -> Interrupted:
    if result.task_id is None:
        msg = "interrupted while the one-off task was being started; no task of it is running"
    elif waited:
        msg = f"interrupted; one-off task {result.task_id} was stopped"
    else:
        msg = f"interrupted; StopTask was sent to one-off task {result.task_id} but it was not waited for"
    exc = Interrupted(msg, "nothing else was started")
    exc.result = result  # type: ignore[attr-defined]
    return exc


def _stop_orphans(
    ecs: Any,
    cluster: str,
    task_definition_arn: str,
    started_by: str,
    poll_interval: float,
    stop_wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> list[str]:
    """Stop the not-yet-stopped tasks of ``task_definition_arn`` started by ``started_by``; wait until STOPPED.

    Listing is retried briefly (ECS is eventually consistent). A second Ctrl-C abandons the search.
    """
    family = task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    arns: list[str] = []
    try:
        for attempt in range(3):
            listed = ecs.list_tasks(cluster=cluster, family=family, startedBy=started_by).get("taskArns", [])
            tasks = ecs.describe_tasks(cluster=cluster, tasks=listed).get("tasks", []) if listed else []
            arns = [
                t["taskArn"]
                for t in tasks
                if t.get("taskDefinitionArn") == task_definition_arn and t.get("lastStatus") != "STOPPED"
            ]
            if arns or attempt == 2:
                break
            sleep(1.0)
        for arn in arns:
            ecs.stop_task(cluster=cluster, task=arn, reason="ublog-ops: interrupted by the user (Ctrl-C)")
        limit = clock() + stop_wait
        pending = list(arns)
        while pending and clock() < limit:
            tasks = ecs.describe_tasks(cluster=cluster, tasks=pending).get("tasks", [])
            pending = [t["taskArn"] for t in tasks if t.get("lastStatus") != "STOPPED"]
            if pending:
                sleep(min(poll_interval, max(limit - clock(), 0)))
    except KeyboardInterrupt:
        pass
    return arns


def _logs_client(aws: Any, region: str | None) -> Any:
    if region is None or region == aws.region:
        return aws.client("logs")
    from botocore.config import Config as BotoConfig

    return aws.session.client("logs", region_name=region, config=BotoConfig(retries=RETRY))


def _stop_and_wait(
    ecs: Any,
    cluster: str,
    task_arn: str,
    reason: str,
    describe: Callable[[], dict[str, Any]],
    tails: TaskLogs,
    emit: Callable[[list[LogLine]], None],
    poll_interval: float,
    stop_wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[dict[str, Any], str]:
    """StopTask, then poll (streaming logs) until STOPPED: "stopped", or "gave_up" after ``stop_wait``, or
    "interrupted" by a (further) Ctrl-C."""
    task: dict[str, Any] = {}
    try:
        try:
            task = ecs.stop_task(cluster=cluster, task=task_arn, reason=reason[:255]).get("task") or {}
        except Exception as exc:
            if client_error_code(exc) is None:
                raise
            task = describe()  # e.g. it stopped by itself meanwhile; the describe below tells
        limit = clock() + stop_wait
        while task.get("lastStatus") != "STOPPED":
            if clock() >= limit:
                return task, "gave_up"
            sleep(min(poll_interval, max(limit - clock(), 0)))
            task = describe()
            emit(tails.poll())
    except KeyboardInterrupt:
        return task, "interrupted"
    return task, "stopped"


def _drain(
    tails: TaskLogs,
    emit: Callable[[list[LogLine]], None],
    task: Mapping[str, Any],
    grace: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """After STOPPED: read until the streams are quiet for ``grace`` seconds (late-ingested lines are kept)."""
    emit(tails.poll())
    if not task.get("startedAt") and not any(t.exists for t in tails.tails):
        return  # never started: there is nothing to wait for
    quiet_since = clock()
    while clock() - quiet_since < grace:
        sleep(min(1.0, grace))
        got = tails.poll()
        if got:
            emit(got)
            quiet_since = clock()


def _judge(result: OneOffResult, task: Mapping[str, Any], timeout: float) -> None:
    containers = {c.get("name"): c for c in task.get("containers") or []}
    for name in list(result.essential) + [n for n in containers if n not in result.essential]:
        c = containers.get(name) or {}
        result.exit_codes[name] = c.get("exitCode")
        if c.get("reason"):
            result.container_reasons[name] = c["reason"]
    result.stop_code = task.get("stopCode")
    result.stopped_reason = task.get("stoppedReason")
    result.started_at = task.get("startedAt")
    result.stopped_at = task.get("stoppedAt")

    essential = [n for n in result.exit_codes if result.essential.get(n, True)]
    codes = {n: result.exit_codes[n] for n in essential}
    never_started = result.stop_code == "TaskFailedToStart" or (
        not result.started_at and all(code is None for code in result.exit_codes.values())
    )
    if result.interrupted:
        failure = "interrupted by the user (Ctrl-C); the task was stopped"
    elif result.timed_out:
        failure = f"timed out after {_fmt_seconds(timeout)}; the task was stopped"
    elif task.get("lastStatus") != "STOPPED":
        failure = f"task did not stop (last status {task.get('lastStatus')})"
    elif never_started:
        why = result.stopped_reason or "no reason given"
        extra = [r for r in result.container_reasons.values() if r and r not in why]
        failure = f"task failed to start: {why}" + (f" ({'; '.join(extra)})" if extra else "")
    elif result.stop_code == "UserInitiated":
        failure = f"task was stopped before it finished: {result.stopped_reason or 'no reason given'}"
    else:
        bad = []
        for name, code in codes.items():
            why = result.container_reasons.get(name)
            if code is None:
                bad.append(f"container {name} has no exit code" + f" ({why or result.stopped_reason or '?'})")
            elif code != 0:
                bad.append(f"container {name} exited {code}" + (f" ({why})" if why else ""))
        failure = "; ".join(bad) or None
    result.failure = failure
    result.succeeded = failure is None
