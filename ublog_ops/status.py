"""``inv app.status``: what an app env runs right now, read-only.

Per service: the revision and image tag the PRIMARY deployment runs (and what any other deployment still runs),
desired/running/pending counts, the rollout state and its reason, the last events. Then the last pre-update task
(the newest task of the ``{env}-backend_update`` family started by ublog-ops; ECS keeps stopped tasks for about an
hour) with each container's exit code, and who holds the env's deploy lock, if anyone.

:func:`app_status` returns plain JSON-ready data (``--json``); :func:`render_status` turns it into text.
Calls: 1 DescribeServices, 1 DescribeTaskDefinition per distinct revision in use, ListTasks (RUNNING + STOPPED) and
1 DescribeTasks for the pre-update family, 1 GetItem for the lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .aws import Aws, client_error_code
from .config import Config
from .errors import UblogError
from .lock import DeployLock
from .naming import PRE_UPDATE, SERVICES, split_image

EVENTS = 5
STARTED_BY = "ublog-ops"


def _iso(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def _short(arn: str | None) -> str:
    return (arn or "?").rsplit("/", 1)[-1]


def _images(td: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for c in td.get("containerDefinitions", []):
        repo, tag = split_image(c.get("image", ""))
        digest = c["image"].split("@", 1)[1] if "@" in c.get("image", "") else None
        out[c["name"]] = {
            "image": c.get("image"),
            "repository": repo.rsplit("/", 1)[-1],
            "tag": tag,
            "digest": digest,
            "essential": c.get("essential", True),
        }
    return out


class _Definitions:
    """DescribeTaskDefinition once per revision."""

    def __init__(self, ecs: Any) -> None:
        self.ecs = ecs
        self.cache: dict[str, dict[str, Any]] = {}

    def get(self, arn: str | None) -> dict[str, Any]:
        if not arn:
            return {}
        if arn not in self.cache:
            try:
                self.cache[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            except Exception as exc:
                if client_error_code(exc) not in ("ClientException", "InvalidParameterException"):
                    raise
                self.cache[arn] = {}
        return self.cache[arn]


def _deployment(d: Mapping[str, Any], defs: _Definitions) -> dict[str, Any]:
    td = defs.get(d.get("taskDefinition"))
    images = _images(td)
    tags = sorted({i["tag"] for i in images.values() if i["essential"] and i["tag"]})
    return {
        "id": d.get("id"),
        "status": d.get("status"),
        "task_definition": _short(d.get("taskDefinition")),
        "revision": td.get("revision"),
        "tags": tags,
        "desired": d.get("desiredCount"),
        "running": d.get("runningCount"),
        "pending": d.get("pendingCount"),
        "failed_tasks": d.get("failedTasks"),
        "rollout_state": d.get("rolloutState"),
        "rollout_reason": d.get("rolloutStateReason"),
        "created_at": _iso(d.get("createdAt")),
        "updated_at": _iso(d.get("updatedAt")),
    }


def service_status(svc: Mapping[str, Any], defs: _Definitions, events: int = EVENTS) -> dict[str, Any]:
    """One described service as status data."""
    raw = svc.get("deployments") or []
    deployments = [_deployment(d, defs) for d in raw]
    primary_arn = next((d.get("taskDefinition") for d in raw if d.get("status") == "PRIMARY"), None)
    td = defs.get(primary_arn or svc.get("taskDefinition"))
    images = _images(td)
    return {
        "service": svc.get("serviceName"),
        "status": svc.get("status"),
        "task_definition": _short(primary_arn or svc.get("taskDefinition")),
        "revision": td.get("revision"),
        "images": images,
        "tags": sorted({i["tag"] for i in images.values() if i["essential"] and i["tag"]}),
        "desired": svc.get("desiredCount"),
        "running": svc.get("runningCount"),
        "pending": svc.get("pendingCount"),
        "rollout_state": next((d["rollout_state"] for d in deployments if d["status"] == "PRIMARY"), None),
        "rollout_reason": next((d["rollout_reason"] for d in deployments if d["status"] == "PRIMARY"), None),
        "deployments": deployments,
        "events": [
            {"at": _iso(e.get("createdAt")), "message": e.get("message")} for e in (svc.get("events") or [])[:events]
        ],
    }


def last_pre_update(ecs: Any, cluster: str, family: str, defs: _Definitions) -> dict[str, Any] | None:
    """The newest task of ``family`` started by ublog-ops (running or stopped), or None."""
    arns: list[str] = []
    for desired in ("RUNNING", "STOPPED"):
        paginator = ecs.get_paginator("list_tasks")
        for page in paginator.paginate(cluster=cluster, family=family, desiredStatus=desired):
            arns += page.get("taskArns", [])
    tasks: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100]).get("tasks", [])
    ours = [t for t in tasks if (t.get("startedBy") or "").startswith(STARTED_BY)]
    if not ours:
        return None
    task = max(ours, key=lambda t: _iso(t.get("createdAt")) or "")
    images = _images(defs.get(task.get("taskDefinitionArn")))
    containers = {
        c["name"]: {
            "exit_code": c.get("exitCode"),
            "reason": c.get("reason"),
            "last_status": c.get("lastStatus"),
            "essential": images.get(c["name"], {}).get("essential", True),
            "tag": images.get(c["name"], {}).get("tag"),
        }
        for c in task.get("containers", [])
    }
    essential = [c for c in containers.values() if c["essential"]]
    stopped = task.get("lastStatus") == "STOPPED"
    codes = [c["exit_code"] for c in essential]
    succeeded = stopped and bool(codes) and all(code == 0 for code in codes)
    return {
        "task_id": task["taskArn"].rsplit("/", 1)[-1],
        "task_definition": _short(task.get("taskDefinitionArn")),
        "last_status": task.get("lastStatus"),
        "created_at": _iso(task.get("createdAt")),
        "started_at": _iso(task.get("startedAt")),
        "stopped_at": _iso(task.get("stoppedAt")),
        "stop_code": task.get("stopCode"),
        "stopped_reason": task.get("stoppedReason"),
        "containers": containers,
        "exit_code": next((c for c in codes if c not in (0, None)), codes[0] if codes else None),
        "succeeded": succeeded if stopped else None,
    }


def app_status(aws: Aws, cfg: Config, events: int = EVENTS) -> dict[str, Any]:
    """Status data of the env (see module docstring). Read-only; a missing cluster/service is reported, not raised."""
    names = cfg.names()
    ecs = aws.client("ecs")
    defs = _Definitions(ecs)
    data: dict[str, Any] = {"env": names.env, "cluster": names.cluster, "services": {}, "problems": []}
    wanted = {names.service(n): n for n in SERVICES}
    try:
        described = ecs.describe_services(cluster=names.cluster, services=list(wanted))
    except Exception as exc:
        if client_error_code(exc) != "ClusterNotFoundException":
            raise
        data["problems"].append(f"cluster {names.cluster} not found")
        described = {"services": []}
    found = {s["serviceName"]: s for s in described.get("services", [])}
    for service, key in wanted.items():
        if service in found:
            data["services"][key] = service_status(found[service], defs, events)
        else:
            data["services"][key] = {"service": service, "status": "MISSING"}
            data["problems"].append(f"service {service} not found")
    data["pre_update"] = None
    if not data["problems"] or found:
        data["pre_update"] = last_pre_update(ecs, names.cluster, names.family(PRE_UPDATE), defs)
    try:
        data["lock"] = DeployLock(aws.client("dynamodb"), cfg.lock_table, names.env).holder()
    except UblogError as exc:
        data["lock"] = None
        data["problems"].append(exc.message)
    return data


# --- text ---------------------------------------------------------------------------------------------------------


def _counts(s: Mapping[str, Any]) -> str:
    return f"{s.get('running')}/{s.get('desired')} running, {s.get('pending')} pending"


def render_status(data: Mapping[str, Any]) -> str:
    """The status as text: one block per service, then the last pre-update task and the lock."""
    lines = [f"{data['env']} on {data['cluster']}"]
    width = max((len(s["service"]) for s in data["services"].values()), default=0)
    for s in data["services"].values():
        if s.get("status") == "MISSING":
            lines.append(f"  {s['service']:<{width}}  MISSING")
            continue
        tag = ",".join(s.get("tags") or []) or "?"
        state = s.get("rollout_state") or "-"
        status = "" if s.get("status") == "ACTIVE" else f" [{s.get('status')}]"
        lines.append(f"  {s['service']:<{width}}  {s['task_definition']}  tag {tag}  {_counts(s)}  {state}{status}")
        for d in s.get("deployments", []):
            if d["status"] != "PRIMARY":
                lines.append(
                    f"  {'':<{width}}    also {d['status']} {d['task_definition']} (tag {','.join(d['tags']) or '?'}): "
                    f"{d['running']}/{d['desired']} running, {d['rollout_state'] or '-'}"
                )
        if s.get("rollout_reason") and state not in ("COMPLETED", "-"):
            lines.append(f"  {'':<{width}}    {s['rollout_reason']}")
        for e in s.get("events", []):
            lines.append(f"  {'':<{width}}    {e['at']}  {e['message']}")
    pre = data.get("pre_update")
    lines.append("")
    if pre is None:
        lines.append("last pre-update task: none found (ECS keeps stopped tasks for about an hour)")
    else:
        outcome = {True: "succeeded", False: "FAILED", None: pre.get("last_status")}[pre.get("succeeded")]
        lines.append(
            f"last pre-update task: {pre['task_id']} ({pre['task_definition']}) {outcome}, exit code {pre['exit_code']}"
            f", started {pre.get('started_at') or '-'}, stopped {pre.get('stopped_at') or '-'}"
        )
        for name, c in pre["containers"].items():
            extra = "" if c["essential"] else " (non-essential)"
            reason = f" — {c['reason']}" if c.get("reason") else ""
            lines.append(f"    {name}{extra}: exit {c['exit_code']}{reason}")
        if pre.get("stop_code") and not pre.get("succeeded"):
            lines.append(f"    {pre['stop_code']}: {pre.get('stopped_reason')}")
    lock = data.get("lock")
    if lock:
        state = "EXPIRED" if lock["expired"] else "held"
        lines.append(f"deploy lock: {state} by {lock['owner']} since {lock['since']} (expires {lock['expires_at']})")
    else:
        lines.append("deploy lock: free")
    for p in data.get("problems", []):
        lines.append(f"! {p}")
    return "\n".join(lines)
