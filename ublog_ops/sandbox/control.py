"""Run a sandbox as a detached background process (``inv sandbox.up/down/status/reset``).

Files in the state directory (default ``.sandbox/``, git-ignored): ``pid``; ``env`` (``source`` it: unset of
profile variables + ``export`` lines); ``state.json`` (written by the server when ready); ``server.log``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RefusedError, UblogError
from .behaviour import BehaviourError, load_behaviour
from .server import UNSET_VARS

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Running:
    pid: int
    endpoint: str
    region: str
    env: str
    base_env: str
    state: dict[str, Any]

    def env_vars(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "UBLOG_ENV": self.env,
            "UBLOG_BASE_ENV": self.base_env,
        }


def _alive(pid: int) -> bool:
    """Is ``pid`` a live sandbox server (not a recycled pid of something else)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        if b"ublog_ops.sandbox" not in args:
            return False
        return not _zombie(pid)
    return True


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _read_pid(d: Path) -> int | None:
    try:
        return int((d / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _clean(d: Path) -> None:
    for name in ("pid", "env", "state.json"):
        (d / name).unlink(missing_ok=True)


def running(d: Path) -> Running | None:
    """The sandbox whose pid file is in ``d`` if it is alive; a stale pid file is removed."""
    pid = _read_pid(d)
    if pid is None:
        return None
    if not _alive(pid):
        _clean(d)
        return None
    try:
        state = json.loads((d / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    return Running(
        pid=pid,
        endpoint=state.get("endpoint", "(starting)"),
        region=state.get("region", "?"),
        env=state.get("env", "?"),
        base_env=state.get("base_env", "?"),
        state=state,
    )


def env_file_text(r: Running) -> str:
    lines = [
        f"# ublog-ops sandbox (pid {r.pid}) - load it with:  source {{path}}",
        f"unset {' '.join(UNSET_VARS)}",
        *(f"export {k}={shlex.quote(v)}" for k, v in r.env_vars().items()),
    ]
    return "\n".join(lines) + "\n"


def up(
    d: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5055,
    env: str = "alpha",
    base_env: str = "dev",
    ecr_prefix: str = "ublog",
    region: str = "eu-west-1",
    behaviour: str | None = None,
    time_scale: float | None = None,
    timeout: float = START_TIMEOUT,
) -> Running:
    """Start a detached server; return once it is seeded and ready. Refuses if one already runs."""
    current = running(d)
    if current is not None:
        raise RefusedError(
            f"a sandbox is already running (pid {current.pid}, {current.endpoint})",
            hint=f"use it (source {d / 'env'}), or stop it first: inv sandbox.down",
        )
    try:
        load_behaviour(behaviour, time_scale)  # reject a bad file before starting anything
    except BehaviourError as exc:
        raise ConfigError(str(exc), hint="fix the behaviour file (UBLOG_SANDBOX_BEHAVIOUR / --behaviour)") from None
    if port:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will (TIME_WAIT is fine)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise RefusedError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                    hint="choose another port: --port N or UBLOG_SANDBOX_PORT (0 = any free port)",
                ) from None
    d.mkdir(parents=True, exist_ok=True)
    _clean(d)
    argv = [
        sys.executable,
        "-m",
        "ublog_ops.sandbox",
        "serve",
        f"--host={host}",
        f"--port={port}",
        f"--env={env}",
        f"--base-env={base_env}",
        f"--ecr-prefix={ecr_prefix}",
        f"--region={region}",
        f"--state-file={d / 'state.json'}",
    ]
    if behaviour:
        argv.append(f"--behaviour={Path(behaviour).resolve()}")
    if time_scale is not None:
        argv.append(f"--time-scale={time_scale}")
    log = (d / "server.log").open("wb")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environ
    )
    log.close()
    (d / "pid").write_text(f"{proc.pid}\n")  # at once: a second `up` while this one starts must refuse too
    deadline = time.monotonic() + timeout
    while not (d / "state.json").exists():
        if proc.poll() is not None:
            _clean(d)
            tail = (d / "server.log").read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise UblogError(f"the sandbox did not start: {tail[0]}", hint=f"see {d / 'server.log'}")
        if time.monotonic() > deadline:
            proc.terminate()
            _clean(d)
            raise UblogError(f"the sandbox did not get ready within {timeout:.0f}s", hint=f"see {d / 'server.log'}")
        time.sleep(0.1)
    r = running(d)
    if r is None:  # it died right after getting ready
        raise UblogError("the sandbox exited right after starting", hint=f"see {d / 'server.log'}")
    (d / "env").write_text(env_file_text(r).replace("{path}", str(d / "env")))
    return r


def down(d: Path, timeout: float = STOP_TIMEOUT) -> Running | None:
    """Stop the running sandbox (SIGTERM, then SIGKILL after ``timeout``); None if none was running."""
    r = running(d)
    if r is None:
        _clean(d)
        return None
    os.kill(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(r.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(r.pid):
        os.kill(r.pid, signal.SIGKILL)
    _clean(d)
    return r


def reset(d: Path, timeout: float = 60.0) -> Running:
    """Wipe and reseed the running sandbox (SIGHUP; waits until the server reports the reset)."""
    r = running(d)
    if r is None:
        raise RefusedError("no sandbox is running", hint="start one: inv sandbox.up")
    before = int(r.state.get("resets", 0))
    os.kill(r.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = running(d)
        if now is None:
            raise UblogError("the sandbox exited during the reset", hint=f"see {d / 'server.log'}")
        if int(now.state.get("resets", 0)) > before:
            return now
        time.sleep(0.1)
    raise UblogError(f"the sandbox did not finish the reset within {timeout:.0f}s", hint=f"see {d / 'server.log'}")


def overview(r: Running) -> dict[str, Any]:
    """Cluster and services as plain data: name, revision, image tag, desired/running/pending, rollout."""
    import boto3

    from ..naming import SERVICES, Names, split_image

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=r.region)
    ecs = session.client("ecs", endpoint_url=r.endpoint)
    names = Names(env=r.env, base_env=r.base_env)
    cluster = names.cluster
    found = ecs.describe_clusters(clusters=[cluster])["clusters"]
    services = []
    if found:
        described = ecs.describe_services(cluster=cluster, services=[names.service(s) for s in SERVICES])["services"]
        for svc in described:
            td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
            main = next(
                (c for c in td["containerDefinitions"] if c.get("essential", True)), td["containerDefinitions"][0]
            )
            primary = next((dep for dep in svc["deployments"] if dep["status"] == "PRIMARY"), {})
            services.append(
                {
                    "service": svc["serviceName"],
                    "revision": f"{td['family']}:{td['revision']}",
                    "tag": split_image(main["image"])[1] or "?",
                    "desired": svc["desiredCount"],
                    "running": svc["runningCount"],
                    "pending": svc["pendingCount"],
                    "deployments": len(svc["deployments"]),
                    "rollout": primary.get("rolloutState", "?"),
                }
            )
    return {"cluster": cluster if found else None, "services": services}
