"""Tasks: the App Update pipeline — `inv app.plan|apply|update|status|rollback|unlock`.

Thin: flags → config → library (ublog_ops.plan / pipeline / status / rollout / lock) → output and exit code.
"""

from __future__ import annotations

import json as _json
import os
import sys
from pathlib import Path
from typing import Any

from invoke import Context

from ..errors import ConfigError, RefusedError
from .base import config_from, ublog_task

FLAG_HELP = {
    "env": "app env, e.g. alpha (UBLOG_ENV)",
    "tag": "image tag of the release (backend, and frontend unless --frontend-tag/--backend-only)",
    "frontend_tag": "image tag for web-ui when it differs from --tag",
    "backend_only": "leave web-ui alone (no frontend image needed)",
    "base_env": "base env (UBLOG_BASE_ENV, default dev)",
    "show_values": "show environment values and secret references in the diff (masked by default)",
    "force": "plan even while a deployment of a service is in progress",
    "json": "print a machine-readable record instead of the human view",
    "out": "write the release plan to this file (for `inv app.apply`)",
    "no_rollback": "on rollout failure leave services as they are (exit 6) instead of rolling back (exit 5)",
    "timeout": "rollout deadline in seconds (UBLOG_ROLLOUT_TIMEOUT, default 1800)",
    "stall_timeout": "fail a rollout that makes no progress for this many seconds (default 600)",
    "pre_update_timeout": "stop the pre-update task after this many seconds (default 1800)",
    "poll_interval": "seconds between DescribeServices polls (default 6)",
    "force_unlock": "break an existing deploy lock of this env first (use only when its owner is gone)",
}


_APPLY_FLAGS = "no_rollback timeout stall_timeout pre_update_timeout poll_interval force_unlock"


def _help(fn_keys: str, **extra: str) -> dict[str, str]:
    """Help texts for exactly the flags a task has (Invoke rejects help for unknown flags)."""
    return {**{k: FLAG_HELP[k] for k in fn_keys.split()}, **extra}


def _aws(cfg: Any) -> Any:
    from ..aws import Aws

    return Aws(profile=cfg.get("aws_profile"), region=cfg.get("aws_region"))


def _out(text: str = "", *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _plan(
    c: Context,
    env: str | None,
    tag: str | None,
    frontend_tag: str | None,
    backend_only: bool,
    base_env: str | None,
    show_values: bool,
    force: bool,
) -> tuple[Any, Any, Any]:
    from ..naming import NamingError, validate_tag
    from ..plan import make_plan

    cfg = config_from(c, env=env, base_env=base_env)
    if not tag:
        raise ConfigError("no image tag given", hint="pass --tag v1.2.3")
    try:
        validate_tag(tag)
        if frontend_tag:
            validate_tag(frontend_tag)
    except NamingError as exc:
        raise ConfigError(str(exc), hint="tags look like v1.2.3") from None
    cfg.names()  # validates env, base env and name overrides before any AWS call
    aws = _aws(cfg)
    plan = make_plan(
        aws, cfg, tag, frontend_tag=frontend_tag, backend_only=backend_only, force=force, show_values=show_values
    )
    return cfg, aws, plan


def _show_plan(plan: Any, stream: Any = None) -> None:
    from ..plan import describe_plan

    print(describe_plan(plan), file=stream or sys.stdout, flush=True)


@ublog_task(help=_help("env tag frontend_tag backend_only base_env out show_values force json"))
def plan(
    c: Context,
    env: str | None = None,
    tag: str | None = None,
    frontend_tag: str | None = None,
    backend_only: bool = False,
    base_env: str | None = None,
    out: str | None = None,
    show_values: bool = False,
    force: bool = False,
    json: bool = False,
) -> None:
    """Preflight + render: show what `app.update` would do, change nothing; --out writes the plan file."""
    from ..plan import describe_plan
    from ..record import plan_summary, write_outputs

    *_, release = _plan(c, env, tag, frontend_tag, backend_only, base_env, show_values, force)
    if out:
        release.save(Path(out))
    plan_summary(f"Release plan: {tag} → {release.env}", describe_plan(release))
    if os.environ.get("GITHUB_OUTPUT"):
        outputs = {f"{kind}-digest": str(img.get("digest") or "") for kind, img in release.images.items()}
        write_outputs(Path(os.environ["GITHUB_OUTPUT"]), {"env": release.env, "plan-file": out or "", **outputs})
    if json:
        _out(_json.dumps(release.to_dict(redact=not show_values), indent=2))
    else:
        _show_plan(release)
        if out:
            _out(f"\nplan written to {out}; carry it out with: inv app.apply {out}")


@ublog_task(
    help=_help(_APPLY_FLAGS + " json", plan_file="release plan written by `inv app.plan --out`"),
    positional=["plan_file"],
)
def apply(
    c: Context,
    plan_file: str,
    no_rollback: bool = False,
    timeout: float | None = None,
    stall_timeout: float | None = None,
    pre_update_timeout: float | None = None,
    poll_interval: float | None = None,
    force_unlock: bool = False,
    json: bool = False,
) -> None:
    """Carry out exactly a saved release plan; refuses (exit 3) if live state drifted since it was made."""
    from ..plan import ReleasePlan

    path = Path(plan_file)
    if not path.is_file():
        raise ConfigError(f"no plan file {plan_file}", hint="write one with `inv app.plan --env E --tag T --out FILE`")
    release = ReleasePlan.load(path)
    cfg = config_from(c, env=release.env, base_env=release.base_env)
    _run(
        cfg,
        _aws(cfg),
        release,
        json,
        no_rollback=no_rollback,
        timeout=timeout,
        stall_timeout=stall_timeout,
        pre_update_timeout=pre_update_timeout,
        poll_interval=poll_interval,
        force_unlock=force_unlock,
    )


@ublog_task(help=_help("env tag frontend_tag backend_only base_env show_values force json " + _APPLY_FLAGS))
def update(
    c: Context,
    env: str | None = None,
    tag: str | None = None,
    frontend_tag: str | None = None,
    backend_only: bool = False,
    base_env: str | None = None,
    show_values: bool = False,
    force: bool = False,
    force_unlock: bool = False,
    no_rollback: bool = False,
    timeout: float | None = None,
    stall_timeout: float | None = None,
    pre_update_timeout: float | None = None,
    poll_interval: float | None = None,
    json: bool = False,
) -> None:
    """App Update: plan, then pre-update task, parallel rollout, truthful wait, rollback on failure."""
    cfg, aws, release = _plan(c, env, tag, frontend_tag, backend_only, base_env, show_values, force)
    if not json:
        _show_plan(release)
        _out()
    _run(
        cfg,
        aws,
        release,
        json,
        no_rollback=no_rollback,
        timeout=timeout,
        stall_timeout=stall_timeout,
        pre_update_timeout=pre_update_timeout,
        poll_interval=poll_interval,
        force_unlock=force_unlock,
    )


def _run(cfg: Any, aws: Any, release: Any, as_json: bool, *, no_rollback: bool, **flags: Any) -> None:
    from ..pipeline import ApplyOptions, apply_plan
    from ..progress import RolloutView

    options = ApplyOptions.from_config(cfg, rollback=not no_rollback, **flags)
    stream = sys.stderr if as_json else sys.stdout
    view = RolloutView(stream=stream)

    def say(text: str) -> None:
        print(f"==> {text}", file=stream, flush=True)

    def line(text: str) -> None:
        print(f"    | {text}", file=stream, flush=True)

    with view:
        record = apply_plan(aws, cfg, release, options, say=say, on_line=line, on_poll=view.update)
    record.write_github()
    if as_json:
        _out(record.to_json())
    else:
        _out(f"\n{record.outcome} (exit {record.status})")
        rollback = record.rollback_command()
        if rollback and not record.ok:
            _out(f"roll back by hand with: {rollback}")
    error = record.error()
    if error is not None:
        raise error


@ublog_task(help={"env": FLAG_HELP["env"], "base_env": FLAG_HELP["base_env"], "json": FLAG_HELP["json"]})
def status(c: Context, env: str | None = None, base_env: str | None = None, json: bool = False) -> None:
    """Per service: running revision and tag, desired/running/pending, rollout state, last events; last pre-update."""
    from ..status import app_status, render_status

    cfg = config_from(c, env=env, base_env=base_env)
    cfg.names()
    data = app_status(_aws(cfg), cfg)
    _out(_json.dumps(data, indent=2, default=str) if json else render_status(data))


@ublog_task(
    help={
        "env": FLAG_HELP["env"],
        "to": "FAMILY:REVISION to put a service back on (repeat per service), as printed by app.update",
        **{k: FLAG_HELP[k] for k in ("timeout", "stall_timeout", "poll_interval", "json")},
    },
    iterable=["to"],
)
def rollback(
    c: Context,
    env: str | None = None,
    to: list[str] | None = None,
    timeout: float | None = None,
    stall_timeout: float | None = None,
    poll_interval: float | None = None,
    json: bool = False,
) -> None:
    """Put services back on given revisions (the command app.update prints), and wait until they are stable."""
    from ..rollback import rollback_to

    cfg = config_from(c, env=env)
    names = cfg.names()
    if not to:
        raise ConfigError("no --to given", hint="e.g. --to alpha-gunicorn:12 (see the summary of the failed update)")
    options = {"timeout": timeout, "stall_timeout": stall_timeout, "poll_interval": poll_interval}
    record = rollback_to(_aws(cfg), cfg, names, list(to), options, say=lambda t: _out(f"==> {t}", err=json))
    if json:
        _out(record.to_json())
    else:
        _out(f"\n{record.outcome} (exit {record.status})")
    error = record.error()
    if error is not None:
        raise error


@ublog_task(help={"env": FLAG_HELP["env"], "yes": "do not ask for confirmation"})
def unlock(c: Context, env: str | None = None, yes: bool = False) -> None:
    """Break the deploy lock of an env (when its owner is gone). Shows the holder first."""
    from ..lock import DeployLock

    cfg = config_from(c, env=env)
    env_ = cfg.env
    aws = _aws(cfg)
    lock = DeployLock(aws.client("dynamodb"), cfg.lock_table, env_)
    holder = lock.holder()
    if not holder:
        _out(f"no deploy lock is held for {env_}")
        return
    _out(f"deploy lock for {env_} held by {holder}")
    if not yes:
        answer = input(f"type the env name ({env_}) to break it: ").strip()
        if answer != env_:
            raise RefusedError("lock left in place", hint="pass --yes or type the env name to confirm")
    lock.force_unlock()
    _out(f"deploy lock for {env_} released")
