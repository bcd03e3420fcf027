"""Tasks: the local sandbox — `inv sandbox.up|down|status|reset`.

Thin: flags → config (``ublog.sandbox``: host, port, behaviour, dir) → ``ublog_ops.sandbox.control``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import Context

from ..errors import ConfigError
from .base import config_from, ublog_task

HELP = {
    "port": "port on 127.0.0.1 (UBLOG_SANDBOX_PORT, default 5055)",
    "env": "app env to seed (UBLOG_ENV, default alpha)",
    "base_env": "base env to seed (UBLOG_BASE_ENV, default dev)",
    "behaviour": "behaviour file, JSON or YAML, layered on the shipped one (UBLOG_SANDBOX_BEHAVIOUR)",
    "time_scale": "wall seconds per sandbox second (default: the behaviour file's, 0.1)",
}


def _number(value: Any, kind: Callable[[Any], Any], flag: str, ok: Callable[[Any], bool]) -> Any:
    """A flag/config value as int or float, or a one-line ConfigError (flags arrive as strings)."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not ok(number):
        raise ConfigError(f"--{flag} {value!r} is not valid", hint=HELP[flag.replace("-", "_")])
    return number


def _dir(cfg: Any) -> Path:
    return Path(cfg.get("sandbox.dir") or ".sandbox")


@ublog_task(help=HELP)
def up(
    c: Context,
    port: int | None = None,
    env: str | None = None,
    base_env: str | None = None,
    behaviour: str | None = None,
    time_scale: float | None = None,
) -> None:
    """Start the sandbox (a local AWS seeded like μblog's IaC) in the background; print what to source."""
    from ..sandbox import control

    cfg = config_from(c, **{"sandbox.port": port, "env": env, "base_env": base_env, "sandbox.behaviour": behaviour})
    names = cfg.names(cfg.get("env") or "alpha")  # validates env/base env/prefix before anything starts
    d = _dir(cfg)
    r = control.up(
        d,
        host=cfg.get("sandbox.host") or "127.0.0.1",
        port=_number(cfg.get("sandbox.port"), int, "port", lambda n: 0 <= n <= 65535),
        env=names.env,
        base_env=names.base_env,
        ecr_prefix=cfg.get("ecr_prefix") or "ublog",
        region=cfg.get("aws_region") or "eu-west-1",
        behaviour=cfg.get("sandbox.behaviour"),
        time_scale=None if time_scale is None else _number(time_scale, float, "time-scale", lambda x: x > 0),
    )
    print(f"sandbox running at {r.endpoint} (pid {r.pid}); app env {r.env} on base env {r.base_env}")
    print(f"time scale {r.state.get('time_scale')}; logs in {d / 'server.log'}")
    print(f"\nPoint your shell (boto3, aws CLI, inv app.*) at it:\n\n  source {d / 'env'}\n\nwhich does:")
    print((d / "env").read_text().split("\n", 1)[1].rstrip())
    print("\nStop it with: inv sandbox.down")


@ublog_task
def down(c: Context) -> None:
    """Stop the background sandbox (a clean no-op when none runs)."""
    from ..sandbox import control

    r = control.down(_dir(config_from(c)))
    if r is None:
        print("no sandbox running; nothing to stop")
    else:
        print(f"sandbox stopped (pid {r.pid}, was {r.endpoint})")
        print("unset AWS_ENDPOINT_URL in shells that sourced its env file")


@ublog_task
def status(c: Context) -> None:
    """Is a sandbox running? Its endpoint, cluster and services (revision, image tag, counts)."""
    from ..sandbox import control

    d = _dir(config_from(c))
    r = control.running(d)
    if r is None:
        print("sandbox: not running (start it with: inv sandbox.up)")
        return
    if not r.state:
        print(f"sandbox: starting (pid {r.pid}); see {d / 'server.log'}")
        return
    print(f"sandbox: running at {r.endpoint} (pid {r.pid}), region {r.region}, time scale {r.state.get('time_scale')}")
    view = control.overview(r)
    if not view["cluster"]:
        print("cluster: none (was it deleted?)")
        return
    print(f"cluster: {view['cluster']}")
    rows = [("SERVICE", "REVISION", "TAG", "DESIRED", "RUNNING", "PENDING", "ROLLOUT")]
    for s in view["services"]:
        rollout = s["rollout"] + (f" ({s['deployments']} deployments)" if s["deployments"] > 1 else "")
        rows.append(
            (s["service"], s["revision"], s["tag"], str(s["desired"]), str(s["running"]), str(s["pending"]), rollout)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@ublog_task
def reset(c: Context) -> None:
    """Wipe the running sandbox and seed it again (everything back on the start tag)."""
    from ..sandbox import control

    r = control.reset(_dir(config_from(c)))
    print(f"sandbox at {r.endpoint} wiped and reseeded")
